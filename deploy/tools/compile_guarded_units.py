#!/usr/bin/env python3
"""Compiles, without linking or running anything, every translation unit that
holds code a CPU build never compiles: `#ifdef DELTARL_TORCH_HAS_CUDA`,
`#if TORCH_VERSION_MAJOR ...`, CUDA-only LibTorch APIs (at::cuda, c10::cuda,
CUDAGraph, <ATen/cuda/...>), in the file itself or in a project header it
includes. The commands are those of a CMake build folder configured against a
CUDA LibTorch (compile_commands.json), run one at a time through ccache.

    python3 deploy/tools/compile_guarded_units.py --source-dir . --build-dir DIR --libtorch DIR/torch

A test tool, run by deploy/check-cuda-compile.sh (ctest -L cuda-compile); never
at training time. Exit 0: every unit compiled; 1: a unit failed to compile, or
the build would leave guarded code out (the messages name the file).
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

# What marks a file as holding code only a CUDA or LibTorch 2.x build compiles.
GUARD = re.compile(r"DELTARL_TORCH_HAS_CUDA|TORCH_VERSION_MAJOR|TORCH_VERSION_MINOR|"
                   r"\bat::cuda::|\bc10::cuda::|CUDAGraph|[<\"](?:ATen|c10)/cuda/")
# Units compiled whatever they hold (paths from the source root), for code the
# pattern above cannot see. DELTARL_CUDA_COMPILE_SOURCES (space-separated) adds more.
ALWAYS_COMPILE = []
# Macros that deltarl's CMake defines for a CUDA build: a unit testing one in an
# #if must get it on its command line, or its guarded code is left out there too.
CMAKE_DEFINES = ("DELTARL_TORCH_HAS_CUDA", "DELTARL_HAVE_NCCL")
SOURCE_SUFFIXES = (".cpp", ".cc", ".cxx", ".cu")
HEADER_SUFFIXES = (".h", ".hpp", ".cuh")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)


def say(message):
    print(f"cuda-compile: {message}", flush=True)


def project_files(root):
    """Source and header files, relative to root: git's list, or a walk without build folders."""
    suffixes = SOURCE_SUFFIXES + HEADER_SUFFIXES
    try:
        listed = subprocess.run(["git", "-C", root, "ls-files", "-co", "--exclude-standard"],
                                check=True, capture_output=True, text=True).stdout.split("\n")
        return sorted(f for f in listed if f.endswith(suffixes) and os.path.isfile(os.path.join(root, f)))
    except (OSError, subprocess.CalledProcessError):
        found = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
            found += [os.path.relpath(os.path.join(folder, f), root) for f in files if f.endswith(suffixes)]
        return sorted(found)


def guarded_files(root, files):
    """{file: (reason, macros tested in #if, own or through headers)} for every guarded file."""
    text = {f: open(os.path.join(root, f), encoding="utf-8", errors="replace").read() for f in files}
    includes = {}
    for f, body in text.items():
        resolved = set()
        for name in INCLUDE.findall(body):
            for candidate in (name, os.path.normpath(os.path.join(os.path.dirname(f), name))):
                if candidate in text:
                    resolved.add(candidate)
                    break
        includes[f] = resolved
    tested = {f: {m for m in CMAKE_DEFINES
                  if re.search(rf"^\s*#\s*(?:if|ifdef|ifndef|elif)\b.*\b{m}\b", body, re.MULTILINE)}
              for f, body in text.items()}
    guarded = {}
    for f, body in text.items():
        match = GUARD.search(body)
        if match:
            guarded[f] = (match.group(0).strip('<"'), set(tested[f]))
    changed = True
    while changed:  # through headers, to a fixed point
        changed = False
        for f in files:
            for header in includes[f] & guarded.keys():
                reason, macros = guarded.get(f, (f"via {header}", set(tested[f])))
                merged = macros | guarded[header][1]
                if f not in guarded or merged != guarded[f][1]:
                    guarded[f] = (reason, merged)
                    changed = True
    return guarded


def target_of(command_args):
    """The CMake target a command builds an object for (from -o .../CMakeFiles/<target>.dir/...)."""
    if "-o" in command_args:
        match = re.search(r"CMakeFiles/([^/]+)\.dir/", command_args[command_args.index("-o") + 1])
        if match:
            return match.group(1)
    return None


def include_dirs(args, directory):
    """The -I/-isystem folders of a command, as real paths."""
    found, following = set(), False
    for arg in args:
        path = arg if following else next((arg[len(f):] for f in ("-isystem", "-I") if arg.startswith(f)), "")
        following = arg in ("-isystem", "-I")
        if path:
            found.add(os.path.realpath(os.path.join(directory, path)))
    return found


def syntax_only(args):
    """GCC/Clang: the same command without an object file. nvcc commands run as they are."""
    if "nvcc" in os.path.basename(args[0]):
        return args
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-o":
            skip = True
        elif arg != "-c":
            out.append(arg)
    return out + ["-fsyntax-only"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--libtorch", required=True, help="the LibTorch the build was configured with")
    parser.add_argument("--label", default="", help="what the units are compiled against, for the messages")
    parser.add_argument("--timeout", type=int, default=600, help="seconds one unit may take")
    options = parser.parse_args()
    root = os.path.realpath(options.source_dir)
    build = os.path.realpath(options.build_dir)
    libtorch_include = os.path.join(os.path.realpath(options.libtorch), "include")

    with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as f:
        commands = json.load(f)
    by_file = {}
    for entry in commands:
        path = os.path.relpath(os.path.realpath(os.path.join(entry["directory"], entry["file"])), root)
        args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
        if (entry["directory"], args) not in [(e["directory"], a) for e, a in by_file.get(path, [])]:
            by_file.setdefault(path, []).append((entry, args))

    files = project_files(root)
    guarded = guarded_files(root, files)
    wanted = {f: v for f, v in guarded.items() if f.endswith(SOURCE_SUFFIXES)}
    for extra in ALWAYS_COMPILE + os.environ.get("DELTARL_CUDA_COMPILE_SOURCES", "").split():
        wanted.setdefault(os.path.normpath(extra), ("listed", set()))

    problems = []
    units = []  # (path, directory, args, target)
    for path in sorted(wanted):
        reason, macros = wanted[path]
        if path not in by_file:
            problems.append(f"{path} holds CUDA/LibTorch 2.x code ({reason}) but no target of the CUDA "
                            f"build compiles it (not in {build}/compile_commands.json): add it to a target, "
                            f"or to the target's CUDA-only sources")
            continue
        for entry, args in by_file[path]:
            target = target_of(args) or "?"
            if libtorch_include not in include_dirs(args, entry["directory"]):
                problems.append(f"{path} (target {target}) is compiled without {libtorch_include}: "
                                f"its target does not see the CUDA LibTorch (link it to ${{TORCH_LIBRARIES}})")
            for macro in sorted(macros):
                if not any(re.fullmatch(rf"-D{macro}(=1)?", a) for a in args):
                    problems.append(f"{path} (target {target}) tests {macro} in an #if, but its target does not "
                                    f"define it in a CUDA build, so that code is never compiled: define it on "
                                    f"the target in CMake (see trainer/comm/CMakeLists.txt)")
            units.append((path, entry["directory"], args, target, reason))
    for problem in problems:
        say(f"FAILED: {problem}")
    if not units:
        say("FAILED: no unit holds CUDA-guarded code; the pattern in deploy/tools/compile_guarded_units.py "
            "no longer matches the sources?")
        return 1

    # Generated headers (protobuf) that the units' targets need: with Ninja, the
    # phony target CMake orders a target's objects after, which runs only the
    # code generators, not the compiles or links of the dependencies.
    if os.path.exists(os.path.join(build, "build.ninja")):
        for target in sorted({u[3] for u in units if u[3] != "?"}):
            generate = subprocess.run(
                ["cmake", "--build", build, "--parallel", "1", "--target",
                 f"cmake_object_order_depends_target_{target}"],
                capture_output=True, text=True, timeout=options.timeout)
            if generate.returncode != 0:
                sys.stdout.write(generate.stdout + generate.stderr)
                say(f"FAILED: generating the sources target {target} needs")
                return 1

    ccache = shutil.which("ccache")
    failed = []
    for number, (path, directory, args, target, reason) in enumerate(units, start=1):
        defines = " ".join(a[2:] for a in args if re.fullmatch(r"-D(?:%s)(=.*)?" % "|".join(CMAKE_DEFINES), a))
        command = syntax_only(args)
        if ccache and "ccache" not in os.path.basename(command[0]):
            command = [ccache] + command
        # Niced: the check runs beside builds and tests on a machine of a few cores.
        command = ["nice", "-n", "10"] + command
        start = time.monotonic()
        try:
            result = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=options.timeout)
            status, output = result.returncode, result.stdout + result.stderr
        except subprocess.TimeoutExpired:
            status, output = 1, f"compile timed out after {options.timeout} s\n"
        seconds = time.monotonic() - start
        header = f"[{number}/{len(units)}] {path} (target {target}; {reason}; {defines or 'no deltarl CUDA defines'})"
        if status == 0:
            say(f"{header}: ok, {seconds:.1f} s")
            if output.strip():
                sys.stdout.write(output)  # warnings
        else:
            sys.stdout.write(output)
            say(f"FAILED: {header}: does not compile against {options.label or libtorch_include} "
                f"(compiler output above; the command: cd {directory} && {shlex.join(command[3:])})")
            failed.append(path)

    if failed or problems:
        say("FAILED: " + "; ".join(
            ([f"{len(failed)} of {len(units)} units do not compile against {options.label}: {', '.join(failed)}"]
             if failed else []) +
            ([f"{len(problems)} problems with how the CUDA build compiles guarded files (named above)"]
             if problems else [])))
        return 1
    say(f"{len(units)} units compiled against {options.label}: {', '.join(sorted({u[0] for u in units}))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
