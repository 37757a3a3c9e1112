package ociimage

import "path"

const (
	// caCertsPath is where both the host and the image keep the CA bundle (Debian's layout,
	// which Go's crypto/x509 reads first on linux).
	caCertsPath = "/etc/ssl/certs/ca-certificates.crt"
	nonrootUID  = 65532
	// defaultAppDir is where ko puts the binary.
	defaultAppDir = "/ko-app"
	koDataPath    = "/var/run/ko"
)

// The accounts of the minimal base, as distroless/static and Chainguard's static base have them.
const (
	basePasswd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	baseGroup = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"nonroot:x:65532:\n"
	// Without nsswitch.conf Go's resolver would not read /etc/hosts before DNS.
	baseNsswitch = "hosts: files dns\n"
)

// baseEntries is the minimal base every Go image starts from: CA certificates, the accounts
// above, a nonroot home and a world-writable /tmp.
func baseEntries(caCerts []byte) []entry {
	return []entry{
		{name: "etc", dir: true, mode: 0o755},
		{name: "etc/group", mode: 0o644, body: []byte(baseGroup)},
		{name: "etc/nsswitch.conf", mode: 0o644, body: []byte(baseNsswitch)},
		{name: "etc/passwd", mode: 0o644, body: []byte(basePasswd)},
		{name: "etc/ssl", dir: true, mode: 0o755},
		{name: "etc/ssl/certs", dir: true, mode: 0o755},
		{name: caCertsPath[1:], mode: 0o644, body: caCerts},
		{name: "home", dir: true, mode: 0o755},
		{name: "home/nonroot", dir: true, mode: 0o700, uid: nonrootUID, gid: nonrootUID},
		{name: "root", dir: true, mode: 0o700},
		{name: "tmp", dir: true, mode: 0o1777},
	}
}

// koDataEntries is the layer ko adds for a package without a kodata directory: $KO_DATA_PATH,
// empty.
func koDataEntries() []entry {
	return []entry{
		{name: "var", dir: true, mode: 0o555},
		{name: "var/run", dir: true, mode: 0o555},
		{name: "var/run/ko", dir: true, mode: 0o555},
	}
}

// appEntries is the layer holding the binary in dir (absolute), with ko's fixed modes.
func appEntries(dir, app string, binary []byte) []entry {
	return []entry{
		{name: dir[1:], dir: true, mode: 0o555},
		{name: path.Join(dir[1:], app), mode: 0o555, body: binary},
	}
}
