package org.mosaicbert.backend.cuda;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The parameter lists of the kernel files' {@code extern "C" __global__} functions, read from their source: the one
 * description of what each kernel takes, against which every launch is checked ({@link CudaDevice}, and the tests'
 * emulated device, which also generates its dispatch from it). The driver checks nothing: cuLaunchKernel reads as many
 * argument slots as the kernel declares, so a missing trailing argument reads what an earlier launch left in its
 * reused slot, and an Integer where the kernel declares long long leaves half of the slot stale.
 *
 * <p>A parameter's C type says how a launch passes it (boxed as {@link Device} says); a pointer marked {@code ALIGN16}
 * (common.cuh) must be 16-byte aligned.
 */
final class KernelSignatures {
  private static final Pattern COMMENT = Pattern.compile("/\\*.*?\\*/|//[^\n]*", Pattern.DOTALL);
  private static final Pattern GLOBAL = Pattern.compile("\\b__global__\\b");
  private static final Pattern KERNEL = Pattern.compile(
      "extern\\s+\"C\"\\s+__global__\\s+void(?:\\s+__launch_bounds__\\s*\\([^)]*\\))?\\s+(\\w+)\\s*\\(([^)]*)\\)");
  private static final Pattern PARAMETER = Pattern.compile("(ALIGN16 )?(.*?)\\s*\\b(\\w+)");
  private static final String ALIGNMENT_ADVICE = "a bf16 view must start at a multiple of 8 elements";

  /** What a launch passes for a parameter, by its C type. */
  enum Type {
    POINTER("a pointer", Device.Ptr.class),
    INT("an int", Integer.class),
    LONG_LONG("a long long", Long.class),
    FLOAT("a float", Float.class);

    final String description;
    final Class<?> boxed;

    Type(String description, Class<?> boxed) {
      this.description = description;
      this.boxed = boxed;
    }

    /** The parameter's type from its declared C type (a pointer, else the scalar's spelling); null when none fits. */
    static Type of(String cType) {
      if (cType.endsWith("*")) {
        return POINTER;
      }
      return switch (cType.replaceFirst("^const ", "")) {
        case "int", "unsigned", "unsigned int" -> INT;
        case "long long", "unsigned long long" -> LONG_LONG;
        case "float" -> FLOAT;
        default -> null;
      };
    }
  }

  /**
   * One parameter: its position, name, C type as declared, and whether the pointer must be 16-byte aligned.
   */
  record Parameter(int index, String name, String cType, Type type, boolean aligned16) {
    /** As written in the signature. */
    String declaration() {
      return (aligned16 ? "ALIGN16 " : "") + cType + " " + name;
    }
  }

  /** One kernel: its name, the file that defines it and its parameters in order. */
  record Kernel(String name, String file, List<Parameter> parameters) {
    /** "kernel NAME (FILE)", for messages. */
    String where() {
      return "kernel " + name + " (" + file + ")";
    }
  }

  private final Map<String, Kernel> byName = new LinkedHashMap<>();

  private KernelSignatures() {}

  /** The signatures of the kernel files {@link Device#kernelFiles}. */
  static KernelSignatures ofResources() {
    return of(Device.kernelFiles());
  }

  /** The signatures of the given kernel files (file name, e.g. "attention.cu", to its text). */
  static KernelSignatures of(Map<String, String> codeByFile) {
    KernelSignatures signatures = new KernelSignatures();
    for (Map.Entry<String, String> file : codeByFile.entrySet()) {
      for (Kernel kernel : parse(file.getKey(), file.getValue())) {
        Kernel earlier = signatures.byName.putIfAbsent(kernel.name(), kernel);
        if (earlier != null) {
          throw new IllegalStateException(kernel.where() + ": " + earlier.file() + " defines a kernel of that name "
              + "too; extern \"C\" names must be unique across the kernel files");
        }
      }
    }
    return signatures;
  }

  /** The kernels of one file, in order; throws on a {@code __global__} function or a parameter it cannot read. */
  static List<Kernel> parse(String file, String code) {
    String text = COMMENT.matcher(code).replaceAll(" ");
    List<Kernel> kernels = new ArrayList<>();
    Matcher m = KERNEL.matcher(text);
    while (m.find()) {
      kernels.add(new Kernel(m.group(1), file, parameters(file, m.group(1), m.group(2))));
    }
    long globals = GLOBAL.matcher(text).results().count();
    if (globals != kernels.size()) {
      throw new IllegalStateException(file + " has " + globals + " __global__ functions, of which " + kernels.size()
          + " read as extern \"C\" __global__ void [__launch_bounds__(...)] NAME(PARAMETERS); write every kernel "
          + "that way");
    }
    return kernels;
  }

  private static List<Parameter> parameters(String file, String kernel, String list) {
    String all = list.trim().replaceAll("\\s+", " ");
    if (all.isEmpty() || all.equals("void")) {
      return List.of();
    }
    String[] declarations = all.split(",");
    List<Parameter> parameters = new ArrayList<>();
    for (int i = 0; i < declarations.length; i++) {
      String declaration = declarations[i].trim();
      Matcher m = PARAMETER.matcher(declaration);
      String where = "kernel " + kernel + " (" + file + "), parameter " + i + " (" + declaration + ")";
      if (!m.matches() || m.group(2).isEmpty()) {
        throw new IllegalStateException(where + ": not a C type followed by a name");
      }
      String cType = m.group(2).replaceAll("\\s+\\*", "*");
      Type type = Type.of(cType);
      if (type == null) {
        throw new IllegalStateException(where + ": Device.launch passes pointers, int, long long and float only");
      }
      boolean aligned16 = m.group(1) != null;
      if (aligned16 && type != Type.POINTER) {
        throw new IllegalStateException(where + ": ALIGN16 marks pointers only");
      }
      parameters.add(new Parameter(i, m.group(3), cType, type, aligned16));
    }
    return Collections.unmodifiableList(parameters);
  }

  /** Every kernel, in file order. */
  Collection<Kernel> kernels() {
    return Collections.unmodifiableCollection(byName.values());
  }

  /** The kernels of one file, in order. */
  List<Kernel> inFile(String file) {
    return byName.values().stream().filter(k -> k.file().equals(file)).toList();
  }

  /**
   * Throws an IllegalArgumentException, naming the kernel, the parameter and what was given, unless {@code args}
   * match kernel {@code name}'s parameters in number and type and every ALIGN16 pointer is 16-byte aligned.
   */
  void check(String name, Object[] args) {
    Kernel kernel = byName.get(name);
    if (kernel == null) {
      throw new IllegalArgumentException("no kernel " + name + " in the kernel files");
    }
    List<Parameter> parameters = kernel.parameters();
    if (args.length < parameters.size()) {
      Parameter missing = parameters.get(args.length);
      throw new IllegalArgumentException(kernel.where() + " takes " + parameters.size() + " arguments, given "
          + args.length + ": parameter " + missing.index() + " (" + missing.declaration() + ") has no argument");
    }
    if (args.length > parameters.size()) {
      throw new IllegalArgumentException(kernel.where() + " takes " + parameters.size() + " arguments, given "
          + args.length + ": argument " + parameters.size() + " (" + describe(args[parameters.size()])
          + ") has no parameter");
    }
    for (Parameter p : parameters) {
      Object arg = args[p.index()];
      String where = kernel.where() + ", parameter " + p.index() + " (" + p.declaration() + ")";
      if (!p.type().boxed.isInstance(arg)) {
        throw new IllegalArgumentException(where + ": needs " + p.type().description + " ("
            + p.type().boxed.getSimpleName() + "), given " + describe(arg));
      }
      if (p.aligned16() && ((Device.Ptr) arg).address() % 16 != 0) {
        throw new IllegalArgumentException(where + ": address 0x" + Long.toHexString(((Device.Ptr) arg).address())
            + " is not 16-byte aligned, and the kernel moves 16 bytes at a time through it; " + ALIGNMENT_ADVICE);
      }
    }
  }

  private static String describe(Object arg) {
    if (arg == null) {
      return "null";
    }
    if (arg instanceof Device.Ptr p) {
      return "a pointer (Ptr) 0x" + Long.toHexString(p.address());
    }
    for (Type type : Type.values()) {
      if (type.boxed.isInstance(arg)) {
        return type.description + " (" + type.boxed.getSimpleName() + ") " + arg;
      }
    }
    return "a " + arg.getClass().getSimpleName() + " " + arg;
  }
}
