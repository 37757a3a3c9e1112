package notebook

import (
	"reflect"
	"strings"
	"sync"
)

// nbformat's keys are case-sensitive (Jupyter reads "cell_type", never "Cell_Type"), but
// encoding/json matches struct fields case-insensitively. dropFoldedKeys removes, from a
// decoded notebook, every key that only case-folds to a field the reader decodes, so Parse
// sees what Jupyter and InjectParameters see: such a key is an unknown key, not the field.

// extraKeys are keys a type decodes outside its struct tags (Output's custom UnmarshalJSON).
var extraKeys = map[reflect.Type][]string{reflect.TypeFor[Output](): {"data"}}

var fieldsCache sync.Map // reflect.Type -> map[string]reflect.Type (exact key -> field type, nil when not walked)

// jsonFields maps the JSON keys a struct type decodes to their field types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldsCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	for _, k := range extraKeys[t] {
		fields[k] = nil
	}
	fieldsCache.Store(t, fields)
	return fields
}

// dropFoldedKeys walks v (a value decoded into any) as type t would decode it.
func dropFoldedKeys(v any, t reflect.Type) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := jsonFields(t)
		for key, val := range obj {
			if ft, exact := fields[key]; exact {
				dropFoldedKeys(val, ft)
				continue
			}
			for name := range fields {
				if strings.EqualFold(key, name) {
					delete(obj, key)
					break
				}
			}
		}
	case reflect.Slice:
		if list, ok := v.([]any); ok {
			for _, e := range list {
				dropFoldedKeys(e, t.Elem())
			}
		}
	}
}
