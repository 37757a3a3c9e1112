package node

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The runc wrapper must drop oomScoreAdj wherever it sits in the compact config.json runc gets
// (first key of process, middle, last) and leave valid JSON with everything else intact.
func TestRuncWrapperDropsOOMScoreAdj(t *testing.T) {
	if _, err := exec.LookPath("sed"); err != nil {
		t.Skip("sed not installed")
	}
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "wrapper")
	if err := os.WriteFile(wrapper, fmt.Appendf(nil, runcWrapper, "/bin/true"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, process := range map[string]string{
		"first":  `{"oomScoreAdj":-998,"cwd":"/","user":{"uid":0}}`,
		"middle": `{"cwd":"/","oomScoreAdj":-997,"user":{"uid":0}}`,
		"last":   `{"cwd":"/","user":{"uid":0},"oomScoreAdj":-998}`,
		"only":   `{"oomScoreAdj":1000}`,
		"absent": `{"cwd":"/"}`,
	} {
		t.Run(name, func(t *testing.T) {
			bundle := t.TempDir()
			config := `{"ociVersion":"1.0.2","process":` + process + `,"root":{"path":"rootfs"}}`
			if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(config), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(wrapper, "--root", "/run/x", "create", "--bundle", bundle, "id1").CombinedOutput(); err != nil {
				t.Fatalf("wrapper: %v\n%s", err, out)
			}
			data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var spec struct {
				Process map[string]any `json:"process"`
				Root    map[string]any `json:"root"`
			}
			if err := json.Unmarshal(data, &spec); err != nil {
				t.Fatalf("config.json no longer JSON: %v\n%s", err, data)
			}
			if _, ok := spec.Process["oomScoreAdj"]; ok {
				t.Errorf("oomScoreAdj still there: %s", data)
			}
			if spec.Root["path"] != "rootfs" || (name != "only" && spec.Process["cwd"] != "/") {
				t.Errorf("other fields changed: %s", data)
			}
		})
	}
}

func TestCNIConflistIsThePodNetwork(t *testing.T) {
	data, err := cniConflist("/x/ipam")
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Plugins    []struct {
			Type string `json:"type"`
			IPAM struct {
				Ranges  [][]map[string]string `json:"ranges"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugins) == 0 || conf.Plugins[0].Type != "bridge" {
		t.Fatalf("first plugin is not the bridge: %s", data)
	}
	ipam := conf.Plugins[0].IPAM
	if len(ipam.Ranges) != 1 || ipam.Ranges[0][0]["subnet"] != PodCIDR || ipam.DataDir != "/x/ipam" {
		t.Errorf("ipam %+v, want %s in /x/ipam (not the host's /var/lib/cni)", ipam, PodCIDR)
	}
}

// The settings this machine cannot run a kubelet without (../shared/realnode).
func TestKubeletConfigHasWhatThisMachineNeeds(t *testing.T) {
	dir := t.TempDir()
	args, err := kubeletFiles(dir, "/x/containerd.sock", "/x/kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "kubelet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"failCgroupV1: false", "cgroupDriver: cgroupfs", "cgroupsPerQOS: false",
		"enforceNodeAllocatable: []", "failSwapOn: false", `memory.available: "0%"`, "imageGCHighThresholdPercent: 100",
		"address: " + NodeIP, "containerRuntimeEndpoint: unix:///x/containerd.sock", "clusterDNS: [" + DNSIP + "]"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("kubelet.yaml lacks %q:\n%s", want, data)
		}
	}
	if !strings.Contains(strings.Join(args, " "), "--node-ip="+NodeIP) {
		t.Errorf("args %v do not pin the node IP", args)
	}
}

func TestParentPIDReadsOddCommandNames(t *testing.T) {
	ppid, ok := parentPID(os.Getpid())
	if !ok || ppid != os.Getppid() {
		t.Fatalf("parentPID(self) = %d, %v; want %d", ppid, ok, os.Getppid())
	}
	// A command name with spaces and parentheses: /proc/<pid>/stat shows the executable's
	// name in parentheses, unescaped.
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Skip("no /bin/sleep")
	}
	odd := filepath.Join(t.TempDir(), "a) 1 (b")
	if err := os.WriteFile(odd, sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	got, ok := parentPID(cmd.Process.Pid)
	if !ok || got != os.Getpid() {
		t.Errorf("parentPID(child) = %d, %v; want %d", got, ok, os.Getpid())
	}
}

// A killed run's processes are found by their command line naming the node's directory, and
// their descendants with them (the shims' containers name nothing of it); others are spared.
func TestKillByCmdlineTakesDescendants(t *testing.T) {
	dir := t.TempDir()
	// sh names dir in its arguments; its child sleep does not.
	owned := exec.Command("/bin/sh", "-c", "sleep 300 & echo $!; wait", "sh", dir+"/containerd.sock")
	out, err := owned.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := owned.Start(); err != nil {
		t.Fatal(err)
	}
	var child int
	if _, err := fmt.Fscan(out, &child); err != nil {
		t.Fatal(err)
	}
	other := exec.Command("sleep", "300")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()

	if n := killByCmdline(dir); n != 2 {
		t.Errorf("killed %d processes, want 2 (the shell and its child)", n)
	}
	_ = owned.Wait()
	if err := waitGone(child); err != nil {
		t.Error(err)
	}
	if _, ok := parentPID(other.Process.Pid); !ok {
		t.Error("a process that does not name the directory was killed")
	}
}

// waitGone waits until pid has exited (a zombie re-parented to a reaper that never reaps
// counts: it no longer runs).
func waitGone(pid int) error {
	for range 100 {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("process %d still runs", pid)
}

// TestContainerdPullsOnlyTheNamedRegistryOverPlainHTTP: the config points CRI at a hosts
// directory holding one hosts.toml, for the registry named, whose server is plain HTTP.
func TestContainerdPullsOnlyTheNamedRegistryOverPlainHTTP(t *testing.T) {
	dir := t.TempDir()
	config, _, err := containerdFiles(dir, []string{"10.77.0.2:30500"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	hostsDir := filepath.Join(dir, "containerd", "certs.d")
	if !strings.Contains(string(body), fmt.Sprintf("config_path = %q", hostsDir)) {
		t.Errorf("config has no registry config_path %s:\n%s", hostsDir, body)
	}
	entries, err := os.ReadDir(hostsDir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "10.77.0.2:30500" {
		t.Fatalf("hosts directory %v (%v), want only 10.77.0.2:30500", entries, err)
	}
	hosts, err := os.ReadFile(filepath.Join(hostsDir, "10.77.0.2:30500", "hosts.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hosts), `server = "http://10.77.0.2:30500"`) || !strings.Contains(string(hosts), `[host."http://10.77.0.2:30500"]`) {
		t.Errorf("hosts.toml does not pull 10.77.0.2:30500 over plain HTTP:\n%s", hosts)
	}
	if containerd, err := exec.LookPath("containerd"); err == nil {
		if out, err := exec.Command(containerd, "--config", config, "config", "dump").CombinedOutput(); err != nil {
			t.Errorf("containerd refuses the config: %v\n%s", err, out)
		}
	}
}
