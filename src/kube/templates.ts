// Reads of the analysis templates (ModelAnalysisTemplate, ClusterModelAnalysisTemplate). The
// operator only reads them: through the informers in the controller, and here one by one while
// those caches are not synced. Never written: a template belongs to whoever wrote it.
import type { AnalysisTemplate, AnalysisTemplateRef } from '../api/types.js';
import { paths, type KubeClient } from './client.js';

export class AnalysisTemplates {
  constructor(private readonly client: KubeClient) {}

  /** The template a checkpoint in `namespace` references; undefined when it does not exist. */
  get(ref: AnalysisTemplateRef, namespace: string): Promise<AnalysisTemplate | undefined> {
    return this.client.find<AnalysisTemplate>(ref.clusterScope ? paths.clusterAnalysisTemplate(ref.name) : paths.analysisTemplate(namespace, ref.name));
  }
}
