package jsonschema

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// formatCheck returns the check of a format the schemas may assert, or nil for any other name.
// Each accepts what the previous library's check of the same name accepted, so that swapping
// validators changed no verdict. (A switch, not a map: no work at package initialisation.)
func formatCheck(name string) func(string) error {
	switch name {
	case "date-time":
		return checkDateTime
	case "uri":
		return checkURI
	}
	return nil
}

// checkDateTime accepts an RFC 3339 date-time: full-date "T" full-time, with a leap second
// allowed only at 23:59 UTC.
func checkDateTime(s string) error {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return errors.New("less than 20 characters long")
	}
	if s[10] != 'T' && s[10] != 't' {
		return errors.New("11th character must be t or T")
	}
	if _, err := time.Parse(time.DateOnly, s[:10]); err != nil {
		return fmt.Errorf("invalid date element: %v", err)
	}
	if err := checkTime(s[11:]); err != nil {
		return fmt.Errorf("invalid time element: %v", err)
	}
	return nil
}

// checkTime checks an RFC 3339 full-time: hh:mm:ss, optional fraction, then Z or ±hh:mm.
func checkTime(s string) error {
	if len(s) < len("15:04:05Z") {
		return errors.New("less than 9 characters long")
	}
	if s[2] != ':' || s[5] != ':' {
		return errors.New("missing colon in correct place")
	}
	h, errH := twoDigitField(s[0:2])
	m, errM := twoDigitField(s[3:5])
	sec, errS := twoDigitField(s[6:8])
	if err := errors.Join(errH, errM, errS); err != nil {
		return errors.New("invalid hour/min/sec")
	}
	if h > 23 || m > 59 || sec > 60 {
		return errors.New("hour/min/sec out of range")
	}
	rest := s[8:]
	if frac, ok := strings.CutPrefix(rest, "."); ok {
		n := len(frac) - len(strings.TrimLeft(frac, "0123456789"))
		if n == 0 {
			return errors.New("no digits in second fraction")
		}
		rest = frac[n:]
	}
	utcMinutes := h*60 + m
	if rest != "Z" && rest != "z" {
		offset, err := parseOffset(rest)
		if err != nil {
			return err
		}
		utcMinutes -= offset
		if utcMinutes < 0 {
			utcMinutes += 24 * 60
		}
	}
	if sec == 60 && utcMinutes != 23*60+59 {
		return errors.New("invalid leap second")
	}
	return nil
}

// parseOffset reads a time offset "+hh:mm" or "-hh:mm" and returns it in minutes east of UTC.
func parseOffset(s string) (int, error) {
	if len(s) != len("+00:00") {
		return 0, errors.New("offset must be 6 characters long")
	}
	sign := 1
	switch s[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return 0, errors.New("offset must begin with plus/minus")
	}
	if s[3] != ':' {
		return 0, errors.New("missing colon in offset in correct place")
	}
	h, errH := twoDigitField(s[1:3])
	m, errM := twoDigitField(s[4:6])
	if errors.Join(errH, errM) != nil {
		return 0, errors.New("invalid hour/min in offset")
	}
	if h > 23 || m > 59 {
		return 0, errors.New("hour/min in offset out of range")
	}
	return sign * (h*60 + m), nil
}

// twoDigitField reads a two-character time field. Like the previous library it reads the field
// as a decimal integer, so "+5" counts as 5 (and "-0" as 0); a negative value is refused.
func twoDigitField(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("negative")
	}
	return n, nil
}

// checkURI accepts an absolute URI as net/url parses it, with an IPv6 host in brackets.
func checkURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if host := u.Hostname(); strings.Contains(host, ":") {
		if !strings.Contains(u.Host, "[") || !strings.Contains(u.Host, "]") {
			return errors.New("ipv6 address not enclosed in brackets")
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("invalid ipv6 address: %v", err)
		}
		if addr.Zone() != "" {
			return errors.New("invalid ipv6 address: zone id is not a part of ipv6 address")
		}
	}
	if !u.IsAbs() {
		return errors.New("relative url")
	}
	return nil
}
