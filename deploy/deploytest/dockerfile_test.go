package deploytest

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

var dockerfilePath = filepath.Join(repoRoot, "deploy", "docker", "Dockerfile")

// dockerfile parses the Dockerfile as BuildKit does.
func dockerfile(t *testing.T) []instructions.Stage {
	t.Helper()
	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	ast, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no stage")
	}
	return stages
}

// goBuildLine finds the RUN line of the Dockerfile that runs "go build"
// and splits it into words as the shell would, with the build arguments
// expanded from args.
func goBuildLine(t *testing.T, stages []instructions.Stage, args map[string]string) []string {
	t.Helper()
	var found []string
	for _, st := range stages {
		env := map[string]string{}
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, kv := range c.Args {
					if v, ok := args[kv.Key]; ok {
						env[kv.Key] = v
					} else if kv.Value != nil {
						env[kv.Key] = *kv.Value
					}
				}
			case *instructions.RunCommand:
				line := strings.Join(c.CmdLine, " ")
				if !strings.Contains(line, "go build") {
					continue
				}
				if found != nil {
					t.Fatal("the Dockerfile runs go build twice")
				}
				var vars []string
				for k, v := range env {
					vars = append(vars, k+"="+v)
				}
				words, err := shell.NewLex(parser.DefaultEscapeToken).ProcessWords(line, shell.EnvsFromSlice(vars))
				if err != nil {
					t.Fatalf("RUN %s: %v", line, err)
				}
				found = words
			}
		}
	}
	if found == nil {
		t.Fatal("no RUN line of the Dockerfile runs go build")
	}
	return found
}

// TestDockerfile_BuildMakesStaticStampedBinary builds the main module's
// binary with exactly the Dockerfile's go build line (its environment
// assignments, flags and package; only the output path is ours), then
// checks the binary is static, so it runs on a distroless static base, and
// prints the version the ldflags stamped.
func TestDockerfile_BuildMakesStaticStampedBinary(t *testing.T) {
	const version = "0.1.0-deploytest"
	words := goBuildLine(t, dockerfile(t), map[string]string{"VERSION": version})

	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		env, words = append(env, words[0]), words[1:]
	}
	if len(words) < 3 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("go build line %q does not start with go build", words)
	}
	args := words[2:]
	pkg := args[len(args)-1]
	var flags []string
	bin := filepath.Join(tmpDir, "scimtrail-image")
	for i := 0; i < len(args)-1; i++ {
		if args[i] == "-o" && i+1 < len(args)-1 {
			flags = append(flags, "-o", bin)
			i++
			continue
		}
		flags = append(flags, args[i])
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("go build runs with %v, want CGO_ENABLED=0: the base image has no libc", env)
	}
	if !slices.Contains(flags, "-trimpath") {
		t.Errorf("go build flags %q lack -trimpath: the binary would carry the build machine's paths", flags)
	}
	if !slices.Contains(flags, "-o") {
		t.Fatalf("go build flags %q have no -o", flags)
	}
	t.Logf("%s go build %s %s", strings.Join(env, " "), strings.Join(flags, " "), pkg)
	if err := goBuild(env, flags, pkg); err != nil {
		t.Fatal(err)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %s program header: it is dynamically linked", p.Type)
		}
	}
	if f.Section(".interp") != nil {
		t.Error("the binary has an .interp section: it needs a dynamic loader")
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v: %s", bin, err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "scimtrail "+version; got != want {
		t.Errorf("version prints %q, want %q (stamped by -ldflags -X)", got, want)
	}
}

// TestDockerfile_FinalStage: the image runs as the non-root user the
// manifests name, with the entrypoint, command and volume they rely on,
// and no HEALTHCHECK (the kubelet probes the admin port; a HEALTHCHECK
// would need a shell or curl the distroless image does not have).
func TestDockerfile_FinalStage(t *testing.T) {
	stages := dockerfile(t)
	for _, st := range stages {
		for _, c := range st.Commands {
			if _, ok := c.(*instructions.HealthCheckCommand); ok {
				t.Errorf("stage %q has a HEALTHCHECK", st.Name)
			}
		}
	}

	final := stages[len(stages)-1]
	var (
		user              string
		entrypoint, cmd   []string
		volumes           []string
		entrypointIsShell bool
	)
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			entrypoint, entrypointIsShell = c.CmdLine, c.PrependShell
		case *instructions.CmdCommand:
			cmd = c.CmdLine
		case *instructions.VolumeCommand:
			volumes = append(volumes, c.Volumes...)
		}
	}
	uid, gid, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("final stage USER = %q, want a non-root user", user)
	}
	if want := "65532"; uid != want || (gid != "" && gid != want) {
		t.Errorf("final stage USER = %q, want 65532:65532, the runAsUser/runAsGroup of the manifests", user)
	}
	if entrypointIsShell || !slices.Equal(entrypoint, []string{"/scimtrail"}) {
		t.Errorf("ENTRYPOINT = %q (shell form %v), want exec form [\"/scimtrail\"]", entrypoint, entrypointIsShell)
	}
	// The manifests give the same arguments explicitly; the image's default
	// must match them, so running the image bare behaves the same.
	d := checkDeployment(t, manifests(t), true)
	if !slices.Equal(cmd, d.Scimtrail.Args) {
		t.Errorf("CMD = %q, want the manifests' args %q", cmd, d.Scimtrail.Args)
	}
	if !slices.Contains(volumes, stateDir) {
		t.Errorf("VOLUME = %q, want %s, the state directory the manifests mount", volumes, stateDir)
	}
}
