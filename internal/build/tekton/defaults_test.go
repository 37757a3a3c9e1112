package tekton

import (
	"regexp"
	"testing"
)

// pinnedImage is <registry>/<repository>:<version tag>@sha256:<64 hex>: the digest decides what
// runs, the tag says which release it is.
var pinnedImage = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+:v[0-9][0-9A-Za-z.-]*@sha256:[0-9a-f]{64}$`)

func TestDefaultImagesArePinnedByDigest(t *testing.T) {
	for name, image := range map[string]string{
		"DefaultBuildahImage": DefaultBuildahImage,
		"DefaultKanikoImage":  DefaultKanikoImage,
		"DefaultGitImage":     DefaultGitImage,
	} {
		if !pinnedImage.MatchString(image) {
			t.Errorf("%s = %q, want registry/repository:v<version>@sha256:<digest>", name, image)
		}
	}
}
