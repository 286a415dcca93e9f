// The fixture the data specs share: a dataset whose examples name themselves, so a batch says
// which examples it holds, in which order, and whether each label travelled with its image.
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'uvu/assert';
import type * as fx from '../../lib/index.js';

/** `count` examples; example i holds the value i in each of its 6 entries (shape [2, 3]), its label is i % 10. */
export function synthetic(count: number): fx.data.Dataset {
  const images = new Float32Array(count * 6);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    images.fill(i, i * 6, i * 6 + 6);
    labels[i] = i % 10;
  }
  return { images, labels, count, shape: [2, 3], numClasses: 10 };
}

/** The example ids of a batch of {@link synthetic} (checking that each image is whole and its label travels with it); disposes the batch. */
export function idsOf(batch: fx.data.Batch): number[] {
  const values = batch.images.dataSync();
  const labels = batch.labels.dataSync();
  const perExample = values.length / batch.size;
  const ids: number[] = [];
  for (let i = 0; i < batch.size; i++) {
    const id = values[i * perExample]!;
    for (let j = 0; j < perExample; j++) assert.is(values[i * perExample + j], id, `example ${id} is whole`);
    assert.is(labels[i], id % 10, 'label travels with its image');
    ids.push(id);
  }
  tf.dispose([batch.images, batch.labels]);
  return ids;
}
