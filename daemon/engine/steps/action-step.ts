/**
 * An action step: one way of producing the artifact a plan needs (restore it from the cache,
 * regenerate it with pahole, …). The executor runs the step for the plan's action and falls back
 * to regenerating when a step cannot deliver. Steps never write the module; installing is the
 * executor's.
 */
import type { ModuleAction } from '../../../shared/module-actions.js';
import type { Artifact } from '../artifact.js';
import type { TreeContext } from '../context.js';
import type { ModulePlan } from '../planner.js';

/** An artifact with the digest of its sections (what a fresh module's outputs digest equals). */
export interface StoredArtifact {
  readonly artifact: Artifact;
  readonly outputsDigest: string;
}

export interface ActionStep {
  /**
   * The plan's artifact, or null when this step cannot produce it (a cache entry gone or unusable).
   * May throw BTFD_ERR_MODULE_CHANGED: the module is not the one planned, re-plan.
   */
  run(ctx: TreeContext, plan: ModulePlan): Promise<StoredArtifact | null>;
}

/** One step per action that produces an artifact; the table in shared/module-actions.ts lists them. */
export type ActionSteps = { readonly [A in Exclude<ModuleAction, 'fresh'>]: ActionStep };
