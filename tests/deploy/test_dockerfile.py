"""deploy/Dockerfile: multi-stage, non-root, health-checked, and its runtime package
list (with what apt installs for it) provides every library the binaries load."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from deploy_support import (BUILD, CLI, DEPLOY, SERVER, closure, installed_dependencies,  # noqa: E402
                            ldd_libraries, owning_packages)

DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")


def read(path):
    with open(path) as f:
        return f.read()


def instructions(text):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line:
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def stages(text):
    """{stage name: [(INSTRUCTION, arguments)]} in order."""
    result, current = {}, None
    for word, rest in instructions(text):
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            current = m.group(2) or m.group(1)
            result[current] = [(word, rest)]
        elif current is not None:
            result[current].append((word, rest))
    return result


def runtime_packages(text):
    """Packages installed between the runtime-packages markers."""
    block = text.split("# runtime-packages:begin", 1)[1].split("# runtime-packages:end", 1)[0]
    block = re.sub(r"\\\n", " ", block)
    words = block.split("apt-get install", 1)[1].split("&&", 1)[0].split()
    return [w for w in words if not w.startswith("-")]


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = read(DOCKERFILE)
        cls.stages = stages(cls.text)
        cls.runtime = cls.stages[list(cls.stages)[-1]]
        cls.packages = runtime_packages(cls.text)

    def runtime_instruction(self, word):
        found = [rest for w, rest in self.runtime if w == word]
        self.assertTrue(found, f"{word} missing from the runtime stage")
        return found[-1]

    def test_multi_stage_on_debian_12(self):
        self.assertEqual(list(self.stages), ["build", "runtime"])
        self.assertIn("ARG DEBIAN_IMAGE=debian:12", self.text)
        build = " ".join(rest for _, rest in self.stages["build"])
        for step in ("scripts/setup", "cmake -S . -B build -G Ninja", "cmake --build build", "make models"):
            self.assertIn(step, build)
        copies = [rest for w, rest in self.runtime if w == "COPY"]
        self.assertTrue(all(c.startswith("--from=build") for c in copies), "runtime takes only build outputs")

    def test_runtime_contract(self):
        user = self.runtime_instruction("USER")
        self.assertNotIn(user.split(":")[0], ("root", "0"))
        self.assertIn("/models", self.runtime_instruction("VOLUME"))
        self.assertEqual(self.runtime_instruction("EXPOSE").split(), ["8000", "8001"])
        healthcheck = self.runtime_instruction("HEALTHCHECK")
        self.assertIn("protoserve-cli", healthcheck)
        self.assertIn("health --target 127.0.0.1:8001", healthcheck)
        # The entrypoint fixes no flag: `docker run IMAGE --flag` and a KServe runtime's
        # args (--model-repository=/mnt/models) both follow it without repeating one.
        self.assertEqual(self.runtime_instruction("ENTRYPOINT"), '["protoserve"]')
        self.assertEqual(self.runtime_instruction("CMD"), "[]")
        env = " ".join(rest for w, rest in self.runtime if w == "ENV")
        self.assertIn("OPENBLAS_NUM_THREADS=1", env)
        self.assertIn("PROTOSERVE_MODEL_REPOSITORY=/models", env)
        # The runtime stage installs no compiler or -dev package.
        for package in self.packages:
            self.assertFalse(package.endswith("-dev"), package)

    def test_runtime_packages_cover_every_library_ldd_shows(self):
        depends = installed_dependencies()
        for package in self.packages:
            self.assertIn(package, depends, f"{package} (Dockerfile) is not a Debian package installed here")
        covered = closure(self.packages, depends)
        missing = {}
        libs = {**ldd_libraries(SERVER), **ldd_libraries(CLI)}
        self.assertGreater(len(libs), 10)
        owners = owning_packages(libs.values())
        for soname, path in libs.items():
            package = owners[path]
            self.assertIsNotNone(package, f"no Debian package owns {path} ({soname})")
            if package not in covered:
                missing.setdefault(package, []).append(soname)
        self.assertEqual(missing, {}, "libraries whose package neither the Dockerfile lists nor apt pulls in")

    def test_directly_linked_libraries_are_listed(self):
        """The packages of the libraries the binaries link directly (DT_NEEDED) are named
        explicitly, not left to chance through another package's dependencies."""
        import subprocess
        for binary in (SERVER, CLI):
            dynamic = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True, check=True).stdout
            needed = re.findall(r"NEEDED\s+(\S+)", dynamic)
            libs = ldd_libraries(binary)
            owners = owning_packages([libs[soname] for soname in needed])
            for soname in needed:
                self.assertIn(owners[libs[soname]], self.packages, f"{soname} of {binary}")

    def test_dockerignore(self):
        ignore = read(os.path.join(DEPLOY, ".dockerignore"))
        self.assertEqual(ignore, read(os.path.join(DEPLOY, "Dockerfile.dockerignore")),
                         "BuildKit reads Dockerfile.dockerignore: keep the two identical")
        lines = [line.strip() for line in ignore.splitlines() if line.strip() and not line.startswith("#")]
        for pattern in (".git", "build", "build-*"):
            self.assertIn(pattern, lines)
        # Everything the build stage needs stays in the context.
        for needed in ("src", "proto", "models", "scripts", "CMakeLists.txt", "Makefile", "bench"):
            self.assertNotIn(needed, lines)
            self.assertTrue(os.path.exists(os.path.join(os.path.dirname(DEPLOY), needed)), needed)

    def test_binaries_exist(self):
        self.assertTrue(os.access(SERVER, os.X_OK), f"build first: {SERVER}")
        self.assertTrue(os.path.isdir(BUILD))


if __name__ == "__main__":
    unittest.main()
