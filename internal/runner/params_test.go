package runner

import "testing"

// -p values read as papermill's -p reads them: numbers and Python's constants typed, the rest
// strings.
func TestParseParamTypesValuesAsPapermill(t *testing.T) {
	for in, want := range map[string]string{
		"x=42": "42", "x=0.5": "0.5", "x=True": "true", "x=False": "false", "x=None": "null",
		"x=true": "true", "x=hello": `"hello"`, "x=true story": `"true story"`, "x=": `""`, "x=[1, 2]": "[1, 2]",
	} {
		name, v, err := ParseParam(in)
		if err != nil || name != "x" || string(v) != want {
			t.Errorf("ParseParam(%q) = %s %s %v, want %s", in, name, v, err, want)
		}
	}
	if _, _, err := ParseParam("=1"); err == nil {
		t.Error("a parameter without a name was accepted")
	}
}
