package ociimage

import (
	"fmt"
	"strings"
)

// KoPrefix starts an image reference that names a Go main package to build (ko's convention):
// "ko://<import path>".
const KoPrefix = "ko://"

// ReplaceKoRefs returns v, a decoded YAML or JSON document (maps, slices and scalars), with
// every string "ko://<import path>" replaced by image(<import path>); maps and slices are
// changed in place. Every string is looked at, not only container images: env values such as
// NBV_RUNNER_IMAGE name images too. A ko:// reference inside a longer string, or one that is
// not an import path, is an error naming where it is (path is the prefix of those names, ""
// for the document itself).
func ReplaceKoRefs(v any, path string, image func(importPath string) string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			r, err := ReplaceKoRefs(e, path+"."+k, image)
			if err != nil {
				return nil, err
			}
			t[k] = r
		}
		return t, nil
	case []any:
		for i, e := range t {
			r, err := ReplaceKoRefs(e, fmt.Sprintf("%s[%d]", path, i), image)
			if err != nil {
				return nil, err
			}
			t[i] = r
		}
		return t, nil
	case string:
		pkg, ok := strings.CutPrefix(t, KoPrefix)
		if !ok {
			if strings.Contains(t, KoPrefix) {
				return nil, fmt.Errorf("%s holds a ko:// reference inside a longer value, which no image can replace", path)
			}
			return t, nil
		}
		if pkg == "" || strings.ContainsAny(pkg, " \t\n") {
			return nil, fmt.Errorf("%s: %q is not a ko:// import path", path, t)
		}
		return image(pkg), nil
	default:
		return v, nil
	}
}
