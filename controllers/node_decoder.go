// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// protobufMagic starts every object in Kubernetes' protobuf encoding, ahead of a runtime.Unknown envelope.
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// Field numbers of the Kubernetes protobuf messages the trimming decoder reads
// (k8s.io/api/core/v1 and k8s.io/apimachinery generated.proto). Every other
// field is skipped without being decoded.
const (
	unknownTypeMeta = 1 // runtime.Unknown
	unknownRaw      = 2
	typeMetaAPI     = 1 // runtime.TypeMeta
	typeMetaKind    = 2

	nodeMetadata = 1 // Node
	nodeStatus   = 3

	listMetadata = 1 // NodeList
	listItems    = 2

	listMetaResourceVersion    = 2 // ListMeta
	listMetaContinue           = 3
	listMetaRemainingItemCount = 4

	metaName              = 1 // ObjectMeta
	metaResourceVersion   = 6
	metaDeletionTimestamp = 9
	metaLabels            = 11
	metaAnnotations       = 12

	timeSeconds = 1 // Time
	timeNanos   = 2

	mapKey   = 1 // map entries
	mapValue = 2

	watchEventType   = 1 // WatchEvent
	watchEventObject = 2
	rawExtensionRaw  = 1 // RawExtension

	statusAddresses = 5 // NodeStatus
	addressType     = 1 // NodeAddress
	addressAddress  = 2
)

// trimmingDecoder decodes Nodes and NodeLists in protobuf into a Node with
// only what the Node cache keeps (source.NodeOf reads it) and the Node watch's
// reflector reads (resourceVersion, the annotation that ends a watch-list):
// name, resourceVersion, labels, deletion timestamp and status addresses. It
// skips the bytes of images, conditions, managedFields and everything else
// instead of decoding them: a heartbeat then costs a scan of the Node's bytes,
// not a full decode that would be thrown away. Everything else goes to the
// standard decoder.
type trimmingDecoder struct {
	runtime.Serializer
	strings *internTable
}

// Decode implements runtime.Decoder.
func (d trimmingDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	apiVersion, kind, raw, ok := protobufEnvelope(data)
	if !ok || apiVersion != "v1" {
		return d.Serializer.Decode(data, defaults, into)
	}
	gvk := corev1.SchemeGroupVersion.WithKind(kind)
	switch kind {
	case "Node":
		node, ok := into.(*corev1.Node)
		if into != nil && !ok {
			break
		}
		if node == nil {
			node = &corev1.Node{}
		}
		*node = corev1.Node{}
		if err := d.node(raw, node); err != nil {
			return nil, nil, fmt.Errorf("decoding a Node from protobuf: %w", err)
		}
		node.SetGroupVersionKind(gvk)
		return node, &gvk, nil
	case "NodeList":
		list, ok := into.(*corev1.NodeList)
		if into != nil && !ok {
			break
		}
		if list == nil {
			list = &corev1.NodeList{}
		}
		*list = corev1.NodeList{}
		if err := d.nodeList(raw, list); err != nil {
			return nil, nil, fmt.Errorf("decoding a NodeList from protobuf: %w", err)
		}
		list.SetGroupVersionKind(gvk)
		return list, &gvk, nil
	}
	return d.Serializer.Decode(data, defaults, into)
}

// watchEventDecoder decodes the frames of a protobuf watch stream into
// metav1.WatchEvent like the standard raw decoder, except that the event's
// object is not copied out of the frame: client-go decodes it (with
// trimmingDecoder) before it reads the next frame into the same buffer, so
// each heartbeat allocates a few small strings instead of a copy of the Node.
type watchEventDecoder struct {
	runtime.Serializer
}

// Decode implements runtime.Decoder.
func (d watchEventDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	event, ok := into.(*metav1.WatchEvent)
	if !ok {
		return d.Serializer.Decode(data, defaults, into)
	}
	*event = metav1.WatchEvent{}
	err := eachField(data, func(num protowire.Number, v []byte) error {
		switch num {
		case watchEventType:
			event.Type = string(v)
		case watchEventObject:
			return eachField(v, func(num protowire.Number, v []byte) error {
				if num == rawExtensionRaw {
					event.Object.Raw = v
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("decoding a watch event from protobuf: %w", err)
	}
	return event, nil, nil
}

// protobufEnvelope returns the type and the raw message of a protobuf-encoded object.
func protobufEnvelope(data []byte) (apiVersion, kind string, raw []byte, ok bool) {
	if !bytes.HasPrefix(data, protobufMagic) {
		return "", "", nil, false
	}
	err := eachField(data[len(protobufMagic):], func(num protowire.Number, v []byte) error {
		switch num {
		case unknownTypeMeta:
			return eachField(v, func(num protowire.Number, v []byte) error {
				switch num {
				case typeMetaAPI:
					apiVersion = string(v)
				case typeMetaKind:
					kind = string(v)
				}
				return nil
			})
		case unknownRaw:
			raw = v
		}
		return nil
	})
	return apiVersion, kind, raw, err == nil
}

func (d trimmingDecoder) nodeList(b []byte, list *corev1.NodeList) error {
	// Count the items first so that the slice is allocated once.
	items := 0
	if err := eachField(b, func(num protowire.Number, _ []byte) error {
		if num == listItems {
			items++
		}
		return nil
	}); err != nil {
		return err
	}
	if items > 0 {
		list.Items = make([]corev1.Node, 0, items)
	}
	return eachField(b, func(num protowire.Number, v []byte) error {
		switch num {
		case listMetadata:
			return listMeta(v, &list.ListMeta)
		case listItems:
			list.Items = append(list.Items, corev1.Node{})
			return d.node(v, &list.Items[len(list.Items)-1])
		}
		return nil
	})
}

func listMeta(b []byte, m *metav1.ListMeta) error {
	return eachField(b, func(num protowire.Number, v []byte) error {
		switch num {
		case listMetaResourceVersion:
			m.ResourceVersion = string(v)
		case listMetaContinue:
			m.Continue = string(v)
		case listMetaRemainingItemCount:
			n, err := varint(v)
			if err != nil {
				return err
			}
			count := int64(n) //nolint:gosec // an int64 field is the varint of its two's complement, so this is its value

			m.RemainingItemCount = &count
		}
		return nil
	})
}

func (d trimmingDecoder) node(b []byte, node *corev1.Node) error {
	return eachField(b, func(num protowire.Number, v []byte) error {
		switch num {
		case nodeMetadata:
			return d.objectMeta(v, &node.ObjectMeta)
		case nodeStatus:
			return eachField(v, func(num protowire.Number, v []byte) error {
				if num != statusAddresses {
					return nil
				}
				var a corev1.NodeAddress
				if err := eachField(v, func(num protowire.Number, v []byte) error {
					switch num {
					case addressType:
						a.Type = corev1.NodeAddressType(d.strings.get(v))
					case addressAddress:
						a.Address = sameOr(node.Name, v)
					}
					return nil
				}); err != nil {
					return err
				}
				node.Status.Addresses = append(node.Status.Addresses, a)
				return nil
			})
		}
		return nil
	})
}

func (d trimmingDecoder) objectMeta(b []byte, m *metav1.ObjectMeta) error {
	return eachField(b, func(num protowire.Number, v []byte) error {
		switch num {
		case metaName:
			m.Name = string(v)
		case metaResourceVersion:
			m.ResourceVersion = string(v)
		case metaDeletionTimestamp:
			t, err := timestamp(v)
			if err != nil {
				return err
			}
			m.DeletionTimestamp = &t
		case metaLabels:
			key, value, err := mapEntry(v)
			if err != nil {
				return err
			}
			if m.Labels == nil {
				m.Labels = make(map[string]string, 8)
			}
			m.Labels[d.strings.get(key)] = d.labelValue(m.Name, value)
		case metaAnnotations:
			// Only the annotation that marks the end of a watch-list's initial
			// events, which the reflector reads off a bookmark, is kept.
			key, value, err := mapEntry(v)
			if err != nil {
				return err
			}
			if string(key) == metav1.InitialEventsAnnotationKey {
				m.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: string(value)}
			}
		}
		return nil
	})
}

// labelValue shares the Node's name for labels that repeat it (kubernetes.io/hostname) and interns short values.
func (d trimmingDecoder) labelValue(name string, v []byte) string {
	if string(v) == name {
		return name
	}
	return d.strings.get(v)
}

// sameOr returns s when b holds the same bytes, else a new string of b.
func sameOr(s string, b []byte) string {
	if string(b) == s {
		return s
	}
	return string(b)
}

func timestamp(b []byte) (metav1.Time, error) {
	var seconds, nanos uint64
	err := eachField(b, func(num protowire.Number, v []byte) error {
		var err error
		switch num {
		case timeSeconds:
			seconds, err = varint(v)
		case timeNanos:
			nanos, err = varint(v)
		}
		return err
	})
	return metav1.Time{Time: time.Unix(int64(seconds), int64(int32(nanos))).Local()}, err
}

func mapEntry(b []byte) (key, value []byte, err error) {
	err = eachField(b, func(num protowire.Number, v []byte) error {
		switch num {
		case mapKey:
			key = v
		case mapValue:
			value = v
		}
		return nil
	})
	return key, value, err
}

// errMalformed is returned for bytes that are not a valid protobuf message.
var errMalformed = errors.New("malformed protobuf")

// eachField calls fn with the number and the value of each field of a
// protobuf message: the payload for length-delimited fields, the encoded
// varint for varint fields. Other wire types are skipped; the fields read
// here are never of those types.
func eachField(b []byte, fn func(num protowire.Number, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errMalformed
			}
			if err := fn(num, v); err != nil {
				return err
			}
			b = b[n:]
		case protowire.VarintType:
			_, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return errMalformed
			}
			if err := fn(num, b[:n]); err != nil {
				return err
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errMalformed
			}
			b = b[n:]
		}
	}
	return nil
}

func varint(b []byte) (uint64, error) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, errMalformed
	}
	return v, nil
}

// maxInterned bounds the intern table; it is emptied when full, so Node
// names and other unique values cannot make it grow without limit.
const maxInterned = 4096

// maxInternedLen is the longest string interned; longer ones are rarely shared.
const maxInternedLen = 64

// internTable shares one copy of the strings that repeat across Nodes
// (label keys, zones, instance types, address types).
type internTable struct {
	mu      sync.Mutex
	strings map[string]string
}

func newInternTable() *internTable { return &internTable{strings: map[string]string{}} }

// get returns b as a string, shared with earlier calls for the same bytes.
func (t *internTable) get(b []byte) string {
	if len(b) > maxInternedLen {
		return string(b)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.strings[string(b)]; ok {
		return s
	}
	if len(t.strings) >= maxInterned {
		clear(t.strings)
	}
	s := string(b)
	t.strings[s] = s
	return s
}
