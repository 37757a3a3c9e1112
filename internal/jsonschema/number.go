package jsonschema

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"
)

// number is an exact decimal: 0.digits × 10^exp, digits without leading or trailing zeros
// ("" for zero). Parsing a JSON number text this way costs no big-number arithmetic however
// large its exponent, so a hostile 1e999999999 is as cheap to judge as 1.
type number struct {
	neg    bool
	digits string
	exp    int64
}

// exponentLimit bounds exponents so that adding a mantissa's length cannot overflow; numbers
// beyond it compare as if at it, which no schema bound comes near.
const exponentLimit = 1 << 60

// parseNumber reads a number in JSON syntax (as json.Number holds after decoding).
func parseNumber(n json.Number) number {
	s := string(n)
	var x number
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		x.neg, s = true, rest
	}
	mantissa, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	var exp int64
	if hasExp {
		e, err := strconv.ParseInt(expText, 10, 64)
		if err != nil {
			// Only overflow can fail here: the decoder checked the syntax.
			e = exponentLimit
			if strings.HasPrefix(expText, "-") {
				e = -exponentLimit
			}
		}
		exp = max(min(e, exponentLimit), -exponentLimit)
	}
	intPart, fracPart, _ := strings.Cut(mantissa, ".")
	digits := intPart + fracPart
	exp += int64(len(intPart))
	trimmed := strings.TrimLeft(digits, "0")
	exp -= int64(len(digits) - len(trimmed))
	x.digits = strings.TrimRight(trimmed, "0")
	if x.digits == "" {
		return number{}
	}
	x.exp = exp
	return x
}

// isInteger reports whether n has no fractional part (2020-12: 1.0 is an integer).
func (n number) isInteger() bool {
	return n.digits == "" || int64(len(n.digits)) <= n.exp
}

func (n number) sign() int {
	switch {
	case n.digits == "":
		return 0
	case n.neg:
		return -1
	}
	return 1
}

// compareNumbers returns -1, 0 or 1 as a is less than, equal to or greater than b.
func compareNumbers(a, b number) int {
	if sa, sb := a.sign(), b.sign(); sa != sb || sa == 0 {
		return cmp.Compare(sa, sb)
	}
	magnitude := cmp.Compare(a.exp, b.exp)
	if magnitude == 0 {
		magnitude = strings.Compare(a.digits, b.digits)
	}
	if a.neg {
		return -magnitude
	}
	return magnitude
}
