// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"encoding/json"
	"fmt"
)

// NftRuleset is the part of nft's JSON output that tests read: one object per
// table, chain, set or rule, in the order nft lists them.
type NftRuleset struct {
	Objects []map[string]json.RawMessage `json:"nftables"`
}

// NftSet is one set as `nft -j` reports it.
type NftSet struct {
	Family string            `json:"family"`
	Table  string            `json:"table"`
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Flags  []string          `json:"flags"`
	Elem   []json.RawMessage `json:"elem"`
}

// Sets returns every set in the ruleset.
func (rs *NftRuleset) Sets() ([]NftSet, error) {
	var sets []NftSet
	for _, obj := range rs.Objects {
		raw, ok := obj["set"]
		if !ok {
			continue
		}
		var s NftSet
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("parsing nft set %s: %w", raw, err)
		}
		sets = append(sets, s)
	}
	return sets, nil
}

// Set returns the named set of table (family, table), or an error naming what was there.
func (rs *NftRuleset) Set(family, table, name string) (*NftSet, error) {
	sets, err := rs.Sets()
	if err != nil {
		return nil, err
	}
	var seen []string
	for i := range sets {
		s := &sets[i]
		if s.Family == family && s.Table == table && s.Name == name {
			return s, nil
		}
		seen = append(seen, s.Family+" "+s.Table+" "+s.Name)
	}
	return nil, fmt.Errorf("nft set %s %s %s not found (sets present: %v)", family, table, name, seen)
}

// Elements returns the set's elements as text: plain addresses stay as they
// are, prefixes ({"prefix": {"addr": a, "len": n}}) become "a/n".
func (s *NftSet) Elements() ([]string, error) {
	out := make([]string, 0, len(s.Elem))
	for _, raw := range s.Elem {
		var addr string
		if err := json.Unmarshal(raw, &addr); err == nil {
			out = append(out, addr)
			continue
		}
		var prefix struct {
			Prefix struct {
				Addr string `json:"addr"`
				Len  int    `json:"len"`
			} `json:"prefix"`
		}
		if err := json.Unmarshal(raw, &prefix); err != nil || prefix.Prefix.Addr == "" {
			return nil, fmt.Errorf("nft set %s: element %s is neither an address nor a prefix", s.Name, raw)
		}
		out = append(out, fmt.Sprintf("%s/%d", prefix.Prefix.Addr, prefix.Prefix.Len))
	}
	return out, nil
}
