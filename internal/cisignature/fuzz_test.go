package cisignature

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds the verifier any X-Nbv-Signature header and body. Every refusal must be one
// of the caller's statuses (never a 5xx: nothing here is the server's fault), a signature that
// cannot be checked must get the one Unauthorized text, verification must be deterministic,
// and an accepted request must carry a MAC of the body under its own timestamp, inside the
// window.
func FuzzVerify(f *testing.F) {
	valid := Sign(body, keyA, now)
	f.Add(valid, body)
	f.Add("", body)
	f.Add(Sign(body, keyB, now), body)
	f.Add(signAt(body, keyA, "9223372036854775807"), body)
	f.Add(signAt(body, keyA, "1"), body)
	f.Add("t="+fmt.Sprint(now.Unix())+",v1="+strings.Repeat("0", 64), body)
	f.Add("t=-1,v1=00", body)
	f.Add("t=01,v1="+strings.Repeat("ab", 32), body)
	f.Add("sha256=abc", body)
	f.Add(valid+","+valid[strings.Index(valid, "v1="):], body)
	f.Add(valid, []byte("{\"data\":\"\xff\"}"))

	f.Fuzz(func(t *testing.T, header string, b []byte) {
		verify := func() error {
			in := input(header, b, &memStore{})
			return Verify(context.Background(), in)
		}
		err := verify()
		if again := verify(); fmt.Sprint(again) != fmt.Sprint(err) {
			t.Fatalf("not deterministic: %v, then %v", err, again)
		}
		if err != nil {
			switch HTTPStatus(err) {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			case http.StatusUnauthorized:
				if !errors.Is(err, ErrExpired) && PublicMessage(err) != Unauthorized {
					t.Fatalf("401 tells more than Unauthorized: %q", PublicMessage(err))
				}
			default:
				t.Fatalf("refusal answered %d: %v", HTTPStatus(err), err)
			}
			return
		}
		ts, sigs, perr := parseSignature(header)
		if perr != nil {
			t.Fatalf("accepted a header the parser refuses: %v", perr)
		}
		sec, _ := strconv.ParseInt(ts, 10, 64)
		if sec < now.Unix()-int64(DefaultMaxAge/time.Second) || sec > now.Unix()+int64(DefaultMaxSkew/time.Second) {
			t.Fatalf("accepted t=%d outside the window around %d", sec, now.Unix())
		}
		want := mac(keyA, ts, b)
		matched := false
		for _, s := range sigs {
			matched = matched || hmac.Equal(s, want)
		}
		if !matched {
			t.Fatalf("accepted a header with no MAC of the body: %q", header)
		}
	})
}

// FuzzSignRoundTrip: what Sign produces verifies exactly when its time is inside the window,
// for any body and any time offset, however large.
func FuzzSignRoundTrip(f *testing.F) {
	f.Add(body, int64(0))
	f.Add(body, int64(-300))
	f.Add(body, int64(-301))
	f.Add(body, int64(60))
	f.Add(body, int64(61))
	f.Add([]byte{}, int64(math.MaxInt64/2))
	f.Add([]byte("\xff"), int64(math.MinInt64/2))
	f.Fuzz(func(t *testing.T, b []byte, offset int64) {
		if len(b) > DefaultMaxBody {
			return
		}
		sec := now.Unix() + offset%(1<<40)
		if sec <= 0 {
			return // Sign's header for a time before 1970 is malformed by definition (t > 0)
		}
		header := signAt(b, keyA, strconv.FormatInt(sec, 10))
		if got := Sign(b, keyA, time.Unix(sec, 0)); got != header {
			t.Fatalf("Sign = %q, want %q", got, header)
		}
		err := Verify(context.Background(), input(header, b, &memStore{}))
		inside := sec >= now.Unix()-300 && sec <= now.Unix()+60
		if inside != (err == nil) {
			t.Fatalf("t=%d (offset %ds): inside window %v, Verify %v", sec, sec-now.Unix(), inside, err)
		}
		if err != nil && !errors.Is(err, ErrExpired) {
			t.Fatalf("a correct signature outside the window is %v, want ErrExpired", err)
		}
		if _, err := hex.DecodeString(header[strings.Index(header, "v1=")+3:]); err != nil {
			t.Fatalf("Sign wrote a v1 that is not hex: %q", header)
		}
	})
}
