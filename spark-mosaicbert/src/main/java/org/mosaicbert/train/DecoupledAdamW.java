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
  /**
   * The optimizer's numbers, read by name from a run's settings: a row of five doubles could be given in the wrong
   * order and still compile.
   */
  public static final class Hyper implements java.io.Serializable {
    private final double lr;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;

    private Hyper(SettingValues settings) {
      lr = settings.get(TrainingSettings.LR);
      beta1 = settings.get(TrainingSettings.BETA1);
      beta2 = settings.get(TrainingSettings.BETA2);
      eps = settings.get(TrainingSettings.EPS);
      weightDecay = settings.get(TrainingSettings.WEIGHT_DECAY);
    }

    public static Hyper of(SettingValues settings) {
      return new Hyper(settings);
    }

    public double lr() {
      return lr;
    }

    public double beta1() {
      return beta1;
    }

    public double beta2() {
      return beta2;
    }

    public double eps() {
      return eps;
    }

    public double weightDecay() {
      return weightDecay;
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
