/** The remote tier's scenarios against Debian's nginx with WebDAV PUT (test/helpers/remote-scenarios.ts). */
import { defineRemoteScenarios } from '../helpers/remote-scenarios.js';

defineRemoteScenarios('http');
