// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nodeallow/nodeallow/test/testenv"
)

// dockerfile is the parsed Dockerfile: its instructions, with continuation lines joined.
type dockerfile []dockerInstruction

// dockerInstruction is one instruction, e.g. {RUN, "go mod download"}, and the stage it is in.
type dockerInstruction struct {
	Op    string
	Arg   string
	Stage int
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out dockerfile
	stage := -1
	var pending string
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			pending += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		full := pending + trimmed
		pending = ""
		op, arg, _ := strings.Cut(full, " ")
		op = strings.ToUpper(op)
		if op == "FROM" {
			stage++
		}
		out = append(out, dockerInstruction{Op: op, Arg: strings.TrimSpace(arg), Stage: stage})
	}
	return out
}

// find returns the instructions with op in stage (-2 for any stage).
func (d dockerfile) find(op string, stage int) []dockerInstruction {
	var out []dockerInstruction
	for _, in := range d {
		if in.Op == op && (stage == -2 || in.Stage == stage) {
			out = append(out, in)
		}
	}
	return out
}

// TestDockerfileBuildsWhatMakeBuilds compares the Dockerfile's go build with
// the Makefile's: the same environment (CGO off), flags and package, so the
// image ships the static binary the tests run. GOOS/GOARCH only pick the
// platform and the output path differs.
func TestDockerfileBuildsWhatMakeBuilds(t *testing.T) {
	d := readDockerfile(t)
	var runBuild *dockerInstruction
	for _, in := range d.find("RUN", 0) {
		if strings.Contains(in.Arg, "go build") {
			runBuild = &in
		}
	}
	if runBuild == nil {
		t.Fatal("the Dockerfile's builder stage has no RUN ... go build")
	}
	docker, err := parseCommand(runBuild.Arg)
	if err != nil {
		t.Fatal(err)
	}
	makeCmd, err := makefileBuildCommand()
	if err != nil {
		t.Fatal(err)
	}
	delete(docker.Env, "GOOS")
	delete(docker.Env, "GOARCH")
	if docker.Env["CGO_ENABLED"] != "0" || makeCmd.Env["CGO_ENABLED"] != "0" {
		t.Errorf("CGO_ENABLED: Dockerfile %q, Makefile %q; both must be 0 for a static binary on distroless/static",
			docker.Env["CGO_ENABLED"], makeCmd.Env["CGO_ENABLED"])
	}
	if len(docker.Env) != len(makeCmd.Env) {
		t.Errorf("build environment differs: Dockerfile %v, Makefile %v", docker.Env, makeCmd.Env)
	}
	normalize := func(args []string, version string) ([]string, string) {
		var out []string
		var output string
		for i := 0; i < len(args); i++ {
			if args[i] == "-o" && i+1 < len(args) {
				output = args[i+1]
				i++
				continue
			}
			out = append(out, strings.ReplaceAll(args[i], version, "VERSION"))
		}
		return out, output
	}
	dArgs, dOut := normalize(docker.Args, "${VERSION}")
	mArgs, _ := normalize(makeCmd.Args, "$(VERSION)")
	if !slices.Equal(dArgs, mArgs) {
		t.Errorf("go build differs:\n Dockerfile: %v\n Makefile:   %v", dArgs, mArgs)
	}
	if !slices.Contains(dArgs, "-X main.version=VERSION") {
		t.Errorf("the Dockerfile's go build %v does not stamp main.version from the VERSION build arg", dArgs)
	}
	if !slices.ContainsFunc(d.find("ARG", 0), func(in dockerInstruction) bool { return strings.HasPrefix(in.Arg, "VERSION") }) {
		t.Error("the builder stage declares no ARG VERSION, so --build-arg VERSION would not reach go build")
	}

	// The binary built in the builder's WORKDIR is what the last stage runs.
	workdir := d.find("WORKDIR", 0)
	if len(workdir) != 1 {
		t.Fatalf("builder stage has %d WORKDIRs, want 1", len(workdir))
	}
	built := filepath.Join(workdir[0].Arg, dOut)
	last := d[len(d)-1].Stage
	copied := false
	for _, in := range d.find("COPY", last) {
		f := strings.Fields(in.Arg)
		if len(f) == 3 && f[0] == "--from=builder" && f[1] == built && f[2] == "/manager" {
			copied = true
		}
	}
	if !copied {
		t.Errorf("the final stage does not COPY --from=builder %s /manager", built)
	}
	if ep := d.find("ENTRYPOINT", last); len(ep) != 1 || ep[0].Arg != `["/manager"]` {
		t.Errorf("ENTRYPOINT = %v, want [\"/manager\"] (the chart's command)", ep)
	}
	// The final base is a build argument (hack/image.sh builds on a local one); users get distroless.
	if from := d.find("FROM", last); len(from) != 1 || from[0].Arg != "${RUNTIME_IMAGE}" {
		t.Errorf("final base = %v, want ${RUNTIME_IMAGE}", from)
	}
	if arg := d.find("ARG", -1); !slices.ContainsFunc(arg, func(in dockerInstruction) bool {
		return in.Arg == "RUNTIME_IMAGE=gcr.io/distroless/static:nonroot"
	}) {
		t.Errorf("the Dockerfile does not default RUNTIME_IMAGE to gcr.io/distroless/static:nonroot (ARGs %v)", arg)
	}
	// The chart's podSecurityContext runs as 65532, distroless' nonroot user.
	if user := d.find("USER", last); len(user) != 1 || user[0].Arg != "65532:65532" {
		t.Errorf("USER = %v, want 65532:65532", user)
	}
}

// TestMakeBuildIsStatic builds the manager with the Makefile's command and
// checks that it is a static ELF executable (nothing for distroless/static to
// lack) that reports the stamped version.
func TestMakeBuildIsStatic(t *testing.T) {
	bin := managerBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", bin, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: it is dynamically linked; build with CGO_ENABLED=0", bin, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != testVersion {
		t.Errorf("%s --version = %q (%v), want %q stamped by -ldflags", bin, out, err, testVersion)
	}
}
