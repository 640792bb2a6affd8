package org.mosaicbert.train;

import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.BufferKind;

/**
 * Composer's {@code DecoupledAdamW}: weight decay scaled by the schedule factor (lr_t / lr_0), not by the learning
 * rate, applied to every parameter (MosaicBERT uses one parameter group); then Adam with bias correction. The moments
 * are flat buffers with the parameters' layout.
 */
public final class DecoupledAdamW {
  public record Hyper(double lr, double beta1, double beta2, double eps, double weightDecay)
      implements java.io.Serializable {
    /** MosaicBERT-Base pretraining: lr 5e-4, betas (0.9, 0.98), eps 1e-6, weight decay 1e-5. */
    public static Hyper mosaicBertPretraining() {
      return new Hyper(5e-4, 0.9, 0.98, 1e-6, 1e-5);
    }
  }

  private final Backend backend;
  private final Buffer m;
  private final Buffer v;
  private final long size;
  private final Hyper hyper;
  private int step;

  public DecoupledAdamW(Backend backend, long size, Hyper hyper) {
    this.backend = backend;
    this.size = size;
    this.hyper = hyper;
    this.m = backend.allocate(BufferKind.OPTIMIZER_STATE, size, "adamw.m");
    this.v = backend.allocate(BufferKind.OPTIMIZER_STATE, size, "adamw.v");
  }

  /** One update with learning-rate factor {@code factor} of the schedule. */
  public void step(Buffer params, Buffer grads, double factor) {
    step++;
    float lr = (float) (hyper.lr() * factor);
    float decay = (float) (hyper.weightDecay() * factor);
    backend.adamw(params.at(0), grads.at(0), m.at(0), v.at(0), size, lr, (float) hyper.beta1(), (float) hyper.beta2(),
        (float) hyper.eps(), decay, step);
  }

  public int stepCount() {
    return step;
  }

  public Hyper hyper() {
    return hyper;
  }

  public Buffer firstMoment() {
    return m;
  }

  public Buffer secondMoment() {
    return v;
  }

  /** Restores the moments and step from a checkpoint. */
  public void restore(float[] firstMoment, float[] secondMoment, int step) {
    if (firstMoment.length != size || secondMoment.length != size) {
      throw new IllegalArgumentException("optimizer state has " + firstMoment.length + " values, the model " + size);
    }
    backend.upload(m.at(0), firstMoment, 0, firstMoment.length);
    backend.upload(v.at(0), secondMoment, 0, secondMoment.length);
    this.step = step;
  }
}
