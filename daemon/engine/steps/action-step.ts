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

/** What a step did: the artifact (with a word on how, for the module's record), or why not. */
export type StepResult =
  | { readonly stored: StoredArtifact; readonly note?: string }
  | { readonly declined: string };

export interface ActionStep {
  /**
   * The plan's artifact, or why this step cannot produce it (a cache entry gone or unusable, a
   * relocation that would not be exact); the executor then regenerates. May throw
   * BTFD_ERR_MODULE_CHANGED: the module is not the one planned, re-plan.
   */
  run(ctx: TreeContext, plan: ModulePlan): Promise<StepResult>;
}

/** One step per action that produces an artifact; the table in shared/module-actions.ts lists them. */
export type ActionSteps = { readonly [A in Exclude<ModuleAction, 'fresh'>]: ActionStep };
