package org.mosaicbert.ml;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.util.List;
import javax.imageio.ImageIO;

/** The loss curve of a run as a PNG (headless Java2D, no plotting library). */
final class LossCurve {
  private LossCurve() {}

  /** The PNG's bytes (in memory: a temporary file would be left behind by a run killed while drawing). */
  static byte[] png(List<double[]> stepAndLoss) throws IOException {
    System.setProperty("java.awt.headless", "true");
    int width = 800;
    int height = 450;
    int left = 70;
    int right = 20;
    int top = 40;
    int bottom = 50;
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, width, height);
    double maxStep = stepAndLoss.stream().mapToDouble(p -> p[0]).max().orElse(1);
    double minLoss = stepAndLoss.stream().mapToDouble(p -> p[1]).min().orElse(0);
    double maxLoss = stepAndLoss.stream().mapToDouble(p -> p[1]).max().orElse(1);
    if (maxLoss - minLoss < 1e-9) {
      maxLoss = minLoss + 1;
    }
    g.setColor(Color.BLACK);
    g.drawString("MLM loss", width / 2 - 30, 25);
    g.drawLine(left, height - bottom, width - right, height - bottom);
    g.drawLine(left, top, left, height - bottom);
    for (int i = 0; i <= 4; i++) {
      double loss = minLoss + (maxLoss - minLoss) * i / 4;
      int y = height - bottom - (int) ((height - top - bottom) * i / 4.0);
      g.drawString(String.format("%.2f", loss), 10, y + 5);
      int step = (int) Math.round(maxStep * i / 4);
      int x = left + (int) ((width - left - right) * i / 4.0);
      g.drawString(Integer.toString(step), x - 10, height - bottom + 20);
    }
    g.drawString("step", width / 2, height - 10);
    g.setColor(new Color(31, 119, 180));
    g.setStroke(new BasicStroke(2f));
    int[] xs = new int[stepAndLoss.size()];
    int[] ys = new int[stepAndLoss.size()];
    for (int i = 0; i < stepAndLoss.size(); i++) {
      xs[i] = left + (int) ((width - left - right) * stepAndLoss.get(i)[0] / maxStep);
      ys[i] = height - bottom - (int) ((height - top - bottom) * (stepAndLoss.get(i)[1] - minLoss)
          / (maxLoss - minLoss));
    }
    g.drawPolyline(xs, ys, xs.length);
    g.dispose();
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    ImageIO.write(image, "png", bytes);
    return bytes.toByteArray();
  }
}
