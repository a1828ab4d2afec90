"""The register map's C header, Python module and README table, from ``hw.core.regmap``.

Names are the same in all three: a word's byte offset ``NAME`` (a 64-bit
counter has ``NAME_LO`` and ``NAME_HI``), a field's ``NAME_FIELD_SHIFT``
and ``NAME_FIELD_MASK``, a constant's value ``NAME_VALUE``, and the error
codes of ``golden.command.Error`` as ``ERR_<NAME>``. The C names carry a
``SPATTEN_`` prefix. ``python -m gen verilog`` writes ``spatten_regs.h``
and ``spatten_regs.py`` beside the Verilog (:func:`emit`).
"""

import types
from pathlib import Path

from golden.command import RECORD_BYTES, Error
from hw.core.regmap import register_map

__all__ = ["symbols", "c_header", "python_module", "markdown_table", "command_table", "emit",
           "load_module", "module_for"]


def symbols(cfg):
    """``[(name, value, comment), ...]``: every name the header and the module define."""
    out = []
    for reg in register_map(cfg):
        for name, offset in reg.words:
            out.append((name, offset, f"{reg.access}: {reg.doc}"))
        if reg.access == "const":
            out.append((f"{reg.name}_VALUE", reg.value, "value"))
        for f in reg.fields:
            out.append((f"{reg.name}_{f.name.upper()}_SHIFT", f.lsb, f.doc or f"{reg.name}.{f.name}"))
            out.append((f"{reg.name}_{f.name.upper()}_MASK", f.mask, ""))
    out.append(("RECORD_BYTES", RECORD_BYTES, "bytes of one command record"))
    out += [(f"ERR_{e.name}", int(e), "golden.command.Error") for e in Error]
    return out


def c_header(cfg):
    """The map as a C header of ``#define SPATTEN_<NAME>`` lines."""
    lines = [f"/* SpAtten register map, configuration {cfg.name!r}: written by `python -m gen verilog`"
             " from hw/core/regmap.py. */",
             "#ifndef SPATTEN_REGS_H", "#define SPATTEN_REGS_H", ""]
    for name, value, comment in symbols(cfg):
        text = f"#define SPATTEN_{name} 0x{value:X}u"
        lines.append(f"{text:<52} /* {comment} */" if comment else text)
    lines += ["", "#endif /* SPATTEN_REGS_H */"]
    return "\n".join(lines) + "\n"


def python_module(cfg):
    """The map as the source of a Python module of constants (and ``REGISTERS``: name -> offset)."""
    lines = [f'"""SpAtten register map, configuration {cfg.name!r}: written by `python -m gen verilog` '
             f'from hw/core/regmap.py."""', ""]
    words = []
    for name, value, comment in symbols(cfg):
        lines.append(f"{name} = {value:#x}" + (f"  # {comment}" if comment else ""))
    for reg in register_map(cfg):
        words += [(name, reg.access) for name, _ in reg.words]
    lines += ["", "#: Every register word: name -> (byte offset, access).", "REGISTERS = {"]
    lines += [f"    {name!r}: ({name}, {access!r})," for name, access in words]
    lines += ["}", "#: Error code -> name (golden.command.Error).",
              "ERRORS = {" + ", ".join(f"ERR_{e.name}: {e.name!r}" for e in Error) + "}", ""]
    return "\n".join(lines)


def markdown_table(cfg):
    """The map as a Markdown table (README)."""
    rows = ["| offset | name | access | fields | meaning |", "| ---: | --- | --- | --- | --- |"]
    for reg in register_map(cfg):
        names = " / ".join(f"`{name}`" for name, _ in reg.words)
        fields = ", ".join(f"{f.name} [{f.lsb + f.bits - 1}:{f.lsb}]" if f.bits > 1 else f"{f.name} [{f.lsb}]"
                           for f in reg.fields)
        doc = reg.doc.replace("|", "\\|")
        rows.append(f"| 0x{reg.offset:03X} | {names} | {reg.access} | {fields} | {doc} |")
    return "\n".join(rows) + "\n"


def command_table():
    """The command record's words (``golden.command``) and the error codes as Markdown tables."""
    from golden.command import MAX_HEADS, RECORD_WORDS, SCALE_WORD, WORDS

    spans = [(word, word + name.endswith("_base"), f"`{name}`") for name, word in WORDS.items()]
    spans[0] = (0, 0, "`control` = `MAGIC << 16 \\| causal << 10 \\| fresh << 9 \\| last << 8 \\| mode`")
    spans.append((SCALE_WORD, SCALE_WORD + MAX_HEADS - 1, "`scale[h]`: shift << 16 \\| mantissa"))
    spans.sort()
    # The words no field holds: reserved, zero.
    free, end = [], 0
    for first, last, _ in spans + [(RECORD_WORDS, RECORD_WORDS, "")]:
        if first > end:
            free.append((end, first - 1, "(reserved, zero)"))
        end = max(end, last + 1)
    rows = ["| word | field |", "| ---: | --- |"]
    for first, last, text in sorted(spans + free):
        rows.append(f"| {first if first == last else f'{first}-{last}'} | {text} |")
    codes = ", ".join(f"{int(e)} `{e.name}`" for e in Error)
    return "\n".join(rows) + f"\n\nError codes (`STATUS.error_code`, `golden.command.Error`): {codes}.\n"


def emit(cfg, folder):
    """Write ``spatten_regs.h`` and ``spatten_regs.py`` into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header, module = folder / "spatten_regs.h", folder / "spatten_regs.py"
    header.write_text(c_header(cfg))
    module.write_text(python_module(cfg))
    return [header, module]


def load_module(path):
    """The emitted Python module at ``path``, loaded."""
    path = Path(path)
    module = types.ModuleType(path.stem)
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    return module


def module_for(cfg):
    """The Python module ``cfg`` emits, built in memory (what :func:`load_module` would read)."""
    module = types.ModuleType("spatten_regs")
    exec(compile(python_module(cfg), "spatten_regs.py", "exec"), module.__dict__)
    return module
