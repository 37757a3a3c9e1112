package function

import "testing"

func TestSoftMemoryLimit(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"268435456\n", 201326592, true}, // 256Mi, the Services' limit
		{"max\n", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"12x", 0, false},
	}
	for _, c := range cases {
		if got, ok := softMemoryLimit(c.in); got != c.want || ok != c.ok {
			t.Errorf("softMemoryLimit(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
