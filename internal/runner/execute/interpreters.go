package execute

import (
	"os"
	"os/exec"
	"path/filepath"
)

// DefaultPython is the last interpreter tried when none is named: Debian's packaged nbclient
// lives there.
const DefaultPython = "/usr/bin/python3"

// SearchOrder names, for help texts, where an interpreter is looked for when none is named.
const SearchOrder = "$VIRTUAL_ENV/bin/python, $CONDA_PREFIX/bin/python, python3 on PATH, then " + DefaultPython

// Interpreter is a Python to try and where it was found.
type Interpreter struct {
	Path string
	// Source says why this interpreter is tried ("$VIRTUAL_ENV", "python3 on PATH", ...).
	Source string
}

// Interpreters lists the interpreters to try, in order, when none is named: the user's
// activated environment comes first because that is where they installed the notebook's
// libraries; the system Python last, as the fallback that carries Debian's nbclient. A path
// found twice is listed once.
func Interpreters(getenv func(string) string, lookPath func(string) (string, error)) []Interpreter {
	var found []Interpreter
	add := func(path, source string) {
		if path == "" {
			return
		}
		for _, f := range found {
			if f.Path == path {
				return
			}
		}
		found = append(found, Interpreter{Path: path, Source: source})
	}
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if dir := getenv(env); dir != "" {
			add(filepath.Join(dir, "bin", "python"), "$"+env)
		}
	}
	if p, err := lookPath("python3"); err == nil {
		add(p, "python3 on PATH")
	}
	add(DefaultPython, "the system Python")
	return found
}

// defaultInterpreters is Interpreters of this process's environment.
func defaultInterpreters() []Interpreter {
	return Interpreters(os.Getenv, exec.LookPath)
}
