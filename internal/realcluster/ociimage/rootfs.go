package ociimage

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// virtualDirs are kept as empty directories: the runtime mounts them in every container.
var virtualDirs = []string{"proc", "sys", "dev"}

// tarRootfs writes the tree under root to tw in lexical order: directories, regular files,
// symlinks (as they are, never followed) and hard links (as links to the first name seen), with
// their modes, owners and modification times. Device nodes, fifos and sockets have no place
// in a layer and are left out, as is everything under virtualDirs.
func tarRootfs(tw *tar.Writer, root string) error {
	firstName := map[uint64]string{} // inode -> first path written, for hard links
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if parent, _, nested := strings.Cut(rel, "/"); nested && isVirtualDir(parent) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		mode := info.Mode()
		if !mode.IsDir() && !mode.IsRegular() && mode&fs.ModeSymlink == 0 {
			return nil
		}
		link := ""
		if mode&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return fmt.Errorf("read link %s: %w", p, err)
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("tar header %s: %w", p, err)
		}
		h.Name = rel
		if mode.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		h.ModTime = info.ModTime().Truncate(time.Second)
		h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
			if mode.IsRegular() && st.Nlink > 1 {
				if first, seen := firstName[st.Ino]; seen {
					h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
				} else {
					firstName[st.Ino] = rel
				}
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar header %s: %w", p, err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		return copyFile(tw, p)
	})
}

func isVirtualDir(name string) bool {
	for _, v := range virtualDirs {
		if name == v {
			return true
		}
	}
	return false
}

func copyFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("copy %s: %w", p, err)
	}
	return nil
}
