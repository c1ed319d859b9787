// Whether the pods of a rollout came up: pure, from what the Deployment, its ReplicaSets and the
// new ReplicaSet's pods report (the reconciler reads them; src/kube/deployments.ts). A checkpoint
// is Deployed only when this says Available; Failed sends it back to its rollback point.
//
// Available: the ReplicaSet made for this checkpoint's pod template has every desired replica
// available (its status observed for its current spec) and every other ReplicaSet of the
// Deployment is down to zero pods: what the Deployment controller's `NewReplicaSetAvailable` is
// computed from, read at the source (the Deployment's status may not be written for a while when
// others keep writing the Deployment; when it is, the message says the Deployment confirms).
//
// Failed, at once: a container OOMKilled, a container restarted `maxRestarts` times or waiting in
// CrashLoopBackOff past that, an image that cannot be pulled or a container that cannot be
// created. Failed at the deadline: the Deployment's own ProgressDeadlineExceeded for this
// ReplicaSet, or the checkpoint's `spec.rollout.progressDeadlineSeconds` passed since the patch
// (pods never Ready, never scheduled). The pods' own reasons are quoted either way.

import { ROLLOUT_REASONS } from '../api/reasons.js';
import type { PodProblem, RolloutStatus } from '../api/types.js';

export interface ReplicaSetFacts {
  name: string;
  uid: string;
  /** The checkpoint uid in its pod template's annotations. */
  checkpointUid?: string;
  revision?: string;
  specReplicas: number;
  replicas: number;
  availableReplicas: number;
  /** status.observedGeneration has caught up with metadata.generation: the counts are for its current spec. */
  observed: boolean;
}

export interface ContainerState {
  reason?: string;
  message?: string;
  exitCode?: number;
}

export interface ContainerFacts {
  name: string;
  ready: boolean;
  restartCount: number;
  waiting?: ContainerState;
  terminated?: ContainerState;
  lastTerminated?: ContainerState;
}

export interface PodFacts {
  name: string;
  /** uid of the ReplicaSet that owns it. */
  ownerUid?: string;
  phase?: string;
  ready: boolean;
  deleting: boolean;
  /** PodScheduled=False: why (Unschedulable and its message). */
  unschedulable?: string;
  containers: ContainerFacts[];
}

export interface DeploymentCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface RolloutInput {
  /** spec.replicas of the Deployment (1 when unset). */
  desired: number;
  conditions: DeploymentCondition[];
  replicaSets: ReplicaSetFacts[];
  pods: PodFacts[];
  checkpointUid: string;
  /** When the Deployment was patched (ms since the epoch); no deadline when undefined. */
  startedAtMs?: number;
  nowMs: number;
  /** spec.rollout.progressDeadlineSeconds; none when undefined. */
  deadlineSeconds?: number;
  /** Restarts of one container that count as a crash loop. */
  maxRestarts: number;
}

export type { PodProblem };

export type RolloutView = RolloutStatus;

/** Waiting reasons that never clear by waiting: the pod spec or the image is wrong. */
const STUCK_WAITING = new Set(['ImagePullBackOff', 'ErrImagePull', 'ErrImageNeverPull', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

export const DEFAULT_MAX_RESTARTS = 2;

export function judgeRollout(i: RolloutInput): RolloutView {
  const rs = i.replicaSets.find((r) => r.checkpointUid === i.checkpointUid);
  const pods = rs ? i.pods.filter((p) => p.ownerUid === rs.uid && !p.deleting) : [];
  const counts = {
    desired: i.desired,
    updated: pods.length,
    ready: pods.filter((p) => p.ready).length,
    available: rs?.availableReplicas ?? 0,
    ...(rs?.revision ? { revision: rs.revision } : {}),
    ...(rs ? { replicaSet: rs.name } : {}),
  };
  const problems = pods.flatMap((p) => podProblems(p, i.maxRestarts)).sort((a, b) => severity(b) - severity(a)).slice(0, 5);
  const view = (state: RolloutView['state'], reason: string, message: string): RolloutView => ({ state, reason, message, ...counts, problems });
  const progress = `${counts.available}/${i.desired} pods available`;
  if (!rs) return view('Progressing', 'ReplicaSetPending', `waiting for the Deployment controller to create the ReplicaSet for this checkpoint's pods`);

  const fatal = problems.find((p) => p.reason === 'OOMKilled' || p.reason === 'CrashLoopBackOff' || STUCK_WAITING.has(p.reason));
  if (fatal) return view('Failed', fatal.reason, `${describe(fatal)} (${progress})`);

  const progressing = i.conditions.find((c) => c.type === 'Progressing');
  const namesOurs = progressing?.message?.includes(`"${rs.name}"`) ?? false;
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded' && namesOurs) {
    return view('Failed', 'ProgressDeadlineExceeded', `the Deployment's progress deadline passed: ${progressing.message}${why(problems)} (${progress})`);
  }
  const others = i.replicaSets.filter((r) => r.uid !== rs.uid && r.replicas > 0).reduce((n, r) => n + r.replicas, 0);
  if (rs.observed && rs.availableReplicas >= i.desired && rs.specReplicas === i.desired && others === 0) {
    // The Deployment's own NewReplicaSetAvailable is computed from these same ReplicaSets; it is
    // reported when the controller can write the Deployment's status, which others' writes can
    // keep it from doing for a long while.
    const confirmed = progressing?.reason === 'NewReplicaSetAvailable' && namesOurs ? '; the Deployment reports NewReplicaSetAvailable' : '';
    return view('Available', 'NewReplicaSetAvailable', `${progress} on ReplicaSet ${rs.name}${rs.revision ? ` (revision ${rs.revision})` : ''}${confirmed}`);
  }
  if (i.startedAtMs !== undefined && i.deadlineSeconds !== undefined && i.nowMs - i.startedAtMs > i.deadlineSeconds * 1000) {
    return view('Failed', 'ProgressDeadlineExceeded', `spec.rollout.progressDeadlineSeconds (${i.deadlineSeconds} s) passed with ${progress}${why(problems)}`);
  }
  const left = others > 0 ? `, ${others} old pod(s) still running` : '';
  return view('Progressing', 'RolloutProgressing', `rolling out: ${progress}${left}${why(problems)}`);
}

function podProblems(p: PodFacts, maxRestarts: number): PodProblem[] {
  const out: PodProblem[] = [];
  if (p.unschedulable) out.push({ pod: p.name, reason: ROLLOUT_REASONS.Unschedulable, message: p.unschedulable });
  for (const c of p.containers) {
    const base = { pod: p.name, container: c.name, restarts: c.restartCount };
    const last = c.terminated ?? c.lastTerminated;
    if (last?.reason === 'OOMKilled') {
      out.push({ ...base, reason: ROLLOUT_REASONS.OOMKilled, ...detail(last) });
    } else if (c.waiting?.reason === 'CrashLoopBackOff' || c.restartCount >= maxRestarts) {
      // The restart count decides: one restart with back-off may be a blip, `maxRestarts` is a loop.
      if (c.restartCount >= maxRestarts) out.push({ ...base, reason: ROLLOUT_REASONS.CrashLoopBackOff, ...detail(last) });
      else out.push({ ...base, reason: ROLLOUT_REASONS.Restarting, ...detail(last) });
    } else if (c.waiting?.reason && STUCK_WAITING.has(c.waiting.reason)) {
      out.push({ ...base, reason: c.waiting.reason, ...(c.waiting.message ? { message: c.waiting.message } : {}) });
    } else if (!c.ready && p.phase === 'Running' && !c.waiting) {
      out.push({ ...base, reason: ROLLOUT_REASONS.NotReady, message: 'running, readiness probe not passing' });
    }
  }
  return out;
}

/**
 * A termination message is often the container's last log lines (terminationMessagePolicy
 * FallbackToLogsOnError): the last line is the one that says why it ended.
 */
export function lastWords(message: string, max = 600): string {
  const lines = message.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const last = lines[lines.length - 1] ?? '';
  return last.length > max ? `${last.slice(0, max - 1)}…` : last;
}

const detail = (s: ContainerState | undefined): Pick<PodProblem, 'message' | 'exitCode'> => ({
  ...(s?.message ? { message: lastWords(s.message) } : s?.reason ? { message: s.reason } : {}),
  ...(s?.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
});

const ORDER = ['OOMKilled', 'CrashLoopBackOff', ...STUCK_WAITING, 'Unschedulable', 'Restarting', 'NotReady'];
const severity = (p: PodProblem): number => ORDER.length - Math.max(0, ORDER.indexOf(p.reason));

export function describe(p: PodProblem): string {
  const where = `pod ${p.pod}${p.container ? ` container ${p.container}` : ''}`;
  const exit = p.exitCode !== undefined ? `, exit code ${p.exitCode}` : '';
  const restarts = p.restarts ? `, ${p.restarts} restart(s)` : '';
  return `${where}: ${p.reason}${exit}${restarts}${p.message && p.message !== p.reason ? `: ${p.message}` : ''}`;
}

const why = (problems: PodProblem[]): string => (problems.length > 0 ? `; ${describe(problems[0]!)}` : '');
