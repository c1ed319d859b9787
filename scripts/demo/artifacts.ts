// The demo's model files and holdout set, generated on the spot (test/harness/models.ts): a
// 4-feature, 3-class classifier, the data it is judged on, and the five checkpoints of the story.
import {
  accuracyOf, classificationData, classifierModel, holdoutJsonl, randomWeights, renameInput, weightsOnlyUpdate, worseWeights, writeArtifact,
  type ClassifierWeights, type WrittenFile,
} from '../../test/harness/models.js';

export interface DemoArtifacts {
  holdout: WrittenFile;
  samples: number;
  /** Model file and its accuracy on the holdout set (as computed here, before the operator does). */
  models: Record<'v1' | 'v2' | 'v3' | 'v4' | 'v5', { file: WrittenFile; accuracy?: number; note: string }>;
}

const FEATURES = 4;
const CLASSES = 3;
const SAMPLES = 500;

const onnxOf = (w: ClassifierWeights): Uint8Array => classifierModel({ features: FEATURES, classes: CLASSES, weights: w.weights, bias: w.bias });

export async function makeArtifacts(dir: string): Promise<DemoArtifacts> {
  // The world: a "true" model labels the data; v1 is a good but imperfect fit of it.
  const truth = randomWeights(FEATURES, CLASSES, 1);
  const data = classificationData(truth, SAMPLES, 11);
  const v1 = weightsOnlyUpdate(truth, 0.2, 3);
  const v3 = worseWeights(v1, data, 0.25); // 25% lower accuracy on the same holdout set
  const v4 = weightsOnlyUpdate(v1, 0.01, 5);
  const v5 = weightsOnlyUpdate(v1, 0.01, 6);

  const holdout = await writeArtifact(dir, 'holdout.jsonl', holdoutJsonl(data, 'x'));
  return {
    holdout,
    samples: SAMPLES,
    models: {
      v1: { file: await writeArtifact(dir, 'ranker-v1.onnx', onnxOf(v1)), accuracy: accuracyOf(v1, data), note: 'the first model' },
      v2: { file: await writeArtifact(dir, 'ranker-v2.onnx', renameInput(onnxOf(weightsOnlyUpdate(v1, 0.01, 4)), 'x', 'features')), note: "input 'x' renamed to 'features'" },
      v3: { file: await writeArtifact(dir, 'ranker-v3.onnx', onnxOf(v3.weights)), accuracy: v3.accuracy, note: '25% lower holdout accuracy' },
      v4: { file: await writeArtifact(dir, 'ranker-v4.onnx', onnxOf(v4)), accuracy: accuracyOf(v4, data), note: 'weights-only update' },
      v5: { file: await writeArtifact(dir, 'ranker-v5.onnx', onnxOf(v5)), accuracy: accuracyOf(v5, data), note: 'weights-only update' },
    },
  };
}
