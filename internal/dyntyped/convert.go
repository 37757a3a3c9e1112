package dyntyped

import (
	"encoding/json"
	"fmt"

	kjson "sigs.k8s.io/json"
)

// FromUnstructured decodes u, an object's unstructured content, into obj (a typed API struct)
// through JSON, with the decoder client-go uses for API answers (sigs.k8s.io/json: case
// sensitive, integers kept as int64). Unknown fields are ignored, as in
// runtime.DefaultUnstructuredConverter, which it replaces in every function because of its
// cold cost: that converter caches struct fields in a map it copies whole for every field it
// adds, so a process's first conversion of a Pod took about 10 ms of CPU, where this takes
// about 3.5 ms and warms the type cache that the decoding of API answers reuses.
func FromUnstructured(u map[string]any, obj any) error {
	data, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return FromJSON(data, obj)
}

// FromJSON decodes data, an object as JSON, into obj the way FromUnstructured does.
func FromJSON(data []byte, obj any) error {
	return kjson.UnmarshalCaseSensitivePreserveInts(data, obj)
}

// ToUnstructured is the unstructured content of obj (a typed API struct) through JSON, with
// integers as int64 as unstructured.Unstructured's accessors expect (see FromUnstructured for
// why not runtime.DefaultUnstructuredConverter).
func ToUnstructured(obj any) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var u map[string]any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &u); err != nil {
		return nil, err
	}
	if u == nil {
		return nil, fmt.Errorf("%T is not a JSON object", obj)
	}
	return u, nil
}
