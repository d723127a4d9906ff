// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/nodeallow/nodeallow/test/testenv"
)

// The release is built once per test run, by `make release` (cleanupBinaries removes it).
var (
	releaseOnce sync.Once
	releaseDir  string
	releaseErr  error
)

// loadedImage finds the reference in `podman load`'s answer.
var loadedImage = regexp.MustCompile(`Loaded image(?:\(s\))?: (\S+)`)

// builtRelease runs `make release VERSION=<releaseVersion>` into a temporary folder once and returns it.
func builtRelease(t *testing.T) string {
	t.Helper()
	releaseOnce.Do(func() {
		if releaseDir, releaseErr = os.MkdirTemp("", "nodeallow-release-"); releaseErr != nil {
			return
		}
		cmd := exec.Command("make", "release", "VERSION="+releaseVersion, "RELEASE_DIR="+releaseDir)
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			releaseErr = fmt.Errorf("make release VERSION=%s: %w\n%s", releaseVersion, err, out)
		}
	})
	if releaseErr != nil {
		t.Fatal(releaseErr)
	}
	return releaseDir
}

// releaseVersion is what TestReleaseAgrees builds; any x.y.z other than the VERSION file's shows that
// every part takes the version from `make release VERSION=...`.
const releaseVersion = "0.99.3"

// TestReleaseAgrees runs `make release VERSION=0.99.3` and checks that its image, chart, wheel and sdist all
// say 0.99.3 where their users read a version, that the chart's image is that image, and that SHA256SUMS
// covers exactly them.
func TestReleaseAgrees(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image and the release (about a minute when podman's cache is warm)")
	}
	dir := builtRelease(t)
	v := releaseVersion
	image := "ghcr.io/nodeallow/nodeallow:" + v
	files := map[string]string{
		"image": "nodeallow-image-" + v + ".oci.tar", "chart": "nodeallow-" + v + ".tgz",
		"wheel": "saltext_nodeallow-" + v + "-py3-none-any.whl", "sdist": "saltext_nodeallow-" + v + ".tar.gz",
	}
	checkSums(t, dir, files)

	chart := readTarGz(t, filepath.Join(dir, files["chart"]), "nodeallow/Chart.yaml")
	var meta struct{ Version, AppVersion string }
	if err := yaml.Unmarshal(chart, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Version != v || meta.AppVersion != v {
		t.Errorf("the packaged chart has version %q and appVersion %q, want %s", meta.Version, meta.AppVersion, v)
	}
	stdout, stderr, err := runHelm(t, "template", "r", filepath.Join(dir, files["chart"]), "--set", "clusterName=c",
		"--kube-version", renderKubeVersion)
	if err != nil {
		t.Fatalf("helm template of the packaged chart: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "image: \""+image+"\"") {
		t.Errorf("the packaged chart's Deployment does not run %s by default", image)
	}

	pkgInfo := readTarGz(t, filepath.Join(dir, files["sdist"]), "saltext_nodeallow-"+v+"/PKG-INFO")
	wheelMeta := readZip(t, filepath.Join(dir, files["wheel"]), "saltext_nodeallow-"+v+".dist-info/METADATA")
	for name, text := range map[string][]byte{"sdist PKG-INFO": pkgInfo, "wheel METADATA": wheelMeta} {
		if !slices.Contains(strings.Split(string(text), "\n"), "Version: "+v) {
			t.Errorf("the %s does not say Version: %s", name, v)
		}
	}

	ref, labels := ociArchive(t, filepath.Join(dir, files["image"]))
	if ref != image && ref != v {
		t.Errorf("the image archive is tagged %q, want %s", ref, image)
	}
	if labels["org.opencontainers.image.version"] != v {
		t.Errorf("the image's version label is %q, want %s", labels["org.opencontainers.image.version"], v)
	}
	// The binary in the archive reports the version (--version; the same variable is its User-Agent
	// and nodeallow_build_info, which test/e2e/test_image.py scrapes).
	podman := filepath.Join(testenv.RepoRoot(), "hack", "podman.sh")
	if out, err := exec.Command("bash", podman, "load", "--input", filepath.Join(dir, files["image"])).CombinedOutput(); err != nil {
		t.Fatalf("podman load of the archive: %v\n%s", err, out)
	}
	out, err := exec.Command("bash", podman, "run", "--rm", "--ulimit=nofile=1024:1024", "--ulimit=nproc=4096:4096",
		image, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != v {
		t.Errorf("%s --version printed %q (%v), want %s", image, out, err, v)
	}
}

// checkSums checks that SHA256SUMS in dir lists exactly files' values, with their hashes.
func checkSums(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	listed := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, _ := strings.Cut(sc.Text(), "  ")
		listed[name] = sum
	}
	if len(listed) != len(files) {
		t.Errorf("SHA256SUMS lists %v, want the %d release files %v", listed, len(files), files)
	}
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("release file %s: %v", name, err)
			continue
		}
		sum := sha256.Sum256(data)
		if listed[name] != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256SUMS has %q for %s, its hash is %x", listed[name], name, sum)
		}
	}
}

// readTarGz returns the file name in the .tar.gz at path.
func readTarGz(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return readTar(t, tar.NewReader(gz), path, name)
}

// readTar returns the file name in the tar stream r (from path).
func readTar(t *testing.T, r *tar.Reader, path, name string) []byte {
	t.Helper()
	for {
		h, err := r.Next()
		if err == io.EOF {
			t.Fatalf("%s has no %s", path, name)
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			data, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}

// readZip returns the file name in the zip archive at path.
func readZip(t *testing.T, path, name string) []byte {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = z.Close() }()
	f, err := z.Open(name)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// ociArchive returns the reference name of the one image in the OCI archive at path and its config's labels.
func ociArchive(t *testing.T, path string) (string, map[string]string) {
	t.Helper()
	blob := func(name string, into any) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		if err := json.Unmarshal(readTar(t, tar.NewReader(f), path, name), into); err != nil {
			t.Fatalf("%s in %s: %v", name, path, err)
		}
	}
	type descriptor struct {
		Digest      string
		Annotations map[string]string
	}
	var index struct{ Manifests []descriptor }
	blob("index.json", &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("%s holds %d manifests, want 1", path, len(index.Manifests))
	}
	var manifest struct{ Config descriptor }
	blob(blobPath(index.Manifests[0].Digest), &manifest)
	var config struct {
		Config struct{ Labels map[string]string }
	}
	blob(blobPath(manifest.Config.Digest), &config)
	return index.Manifests[0].Annotations["org.opencontainers.image.ref.name"], config.Config.Labels
}

// blobPath is where an OCI layout keeps the blob of digest ("sha256:...").
func blobPath(digest string) string {
	algo, hash, _ := strings.Cut(digest, ":")
	return fmt.Sprintf("blobs/%s/%s", algo, hash)
}

// TestReleaseDocsRunAsWritten checks docs/install.md's "Without our registry" commands against a real
// release: its build arguments are the Dockerfile's, every dist/ file it names is in the release, its
// `podman load` loads the image its `podman tag` names, and its `helm install` values render the image by
// repository and digest.
func TestReleaseDocsRunAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image and the release")
	}
	dir := builtRelease(t)
	docVersion := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(testenv.RepoRoot(), "VERSION")))))
	// What `podman push --digestfile` would have written.
	digest := "sha256:" + strings.Repeat("ab", 32)
	var commands [][]string
	for _, line := range registrySectionCommands(t) {
		line = strings.ReplaceAll(line, "$(cat nodeallow.digest)", digest)
		line = strings.ReplaceAll(line, "dist/"+docVersion+"/", dir+"/")
		line = strings.ReplaceAll(line, docVersion, releaseVersion)
		commands = append(commands, strings.Fields(strings.NewReplacer(`"`, "", `\`, "").Replace(line)))
	}
	dockerfile := string(must(os.ReadFile(filepath.Join(testenv.RepoRoot(), "Dockerfile"))))
	podman := filepath.Join(testenv.RepoRoot(), "hack", "podman.sh")
	var loaded string
	ran := map[string]bool{}
	for _, words := range commands {
		for i, w := range words {
			if w == "--build-arg" && i+1 < len(words) {
				name, _, _ := strings.Cut(words[i+1], "=")
				if !strings.Contains(dockerfile, "ARG "+name) {
					t.Errorf("docs/install.md passes --build-arg %s, which the Dockerfile does not declare", name)
				}
			}
			if strings.HasPrefix(w, dir+"/") {
				if _, err := os.Stat(w); err != nil {
					t.Errorf("docs/install.md names %s, which the release lacks", strings.TrimPrefix(w, dir+"/"))
				}
			}
		}
		switch {
		case len(words) > 2 && words[0] == "make" && words[1] == "release":
			ran["make"] = words[2] == "VERSION="+releaseVersion
		case len(words) > 2 && words[0] == "podman" && words[1] == "load":
			out, err := exec.Command("bash", append([]string{podman}, words[1:]...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", words, err, out)
			}
			if m := loadedImage.FindSubmatch(out); m != nil {
				loaded = string(m[1])
			}
			ran["load"] = true
		case len(words) > 2 && words[0] == "podman" && words[1] == "tag":
			ran["tag"] = words[2] == loaded
			if !ran["tag"] {
				t.Errorf("docs/install.md tags %s, `podman load` loaded %s", words[2], loaded)
			}
		case len(words) > 3 && words[0] == "helm" && words[1] == "install":
			args := append(append([]string{"template"}, words[2:]...), "--kube-version", renderKubeVersion)
			stdout, stderr, err := runHelm(t, args...)
			if err != nil {
				t.Fatalf("helm %v: %v\n%s", args, err, stderr)
			}
			ran["helm"] = strings.Contains(stdout, `image: "registry.example.com/platform/nodeallow@`+digest+`"`)
			if !ran["helm"] {
				t.Errorf("the documented helm values do not run registry.example.com/platform/nodeallow@%s", digest)
			}
		}
	}
	for _, step := range []string{"make", "load", "tag", "helm"} {
		if !ran[step] {
			t.Errorf("docs/install.md's registry section lacks (or changed) its %s step", step)
		}
	}
	check := exec.Command("sha256sum", "-c", "SHA256SUMS")
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
}

// registrySectionCommands returns the command lines (continuations joined, comments dropped) of the
// ```sh blocks in docs/install.md's "Without our registry" section.
func registrySectionCommands(t *testing.T) []string {
	t.Helper()
	doc := string(must(os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "install.md"))))
	start := strings.Index(doc, "### Without our registry")
	if start < 0 {
		t.Fatal(`docs/install.md has no "### Without our registry" section`)
	}
	section := doc[start:]
	if end := strings.Index(section[4:], "\n## "); end >= 0 {
		section = section[:end+4]
	}
	var lines []string
	for _, block := range strings.Split(section, "```sh\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		for _, line := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
			if code, _, _ := strings.Cut(line, "#"); strings.TrimSpace(code) != "" {
				lines = append(lines, strings.TrimSpace(code))
			}
		}
	}
	return lines
}

// must returns v, panicking on err (for files the repository always has).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
