// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// IPFamily names an IP address family that an allowlist publishes.
// +kubebuilder:validation:Enum=IPv4;IPv6
type IPFamily string

const (
	// IPv4 selects IPv4 addresses.
	IPv4 IPFamily = "IPv4"
	// IPv6 selects IPv6 addresses.
	IPv6 IPFamily = "IPv6"
)

// NodeAllowlistSpec says which node addresses to allow and which Salt master to tell.
// +kubebuilder:validation:XValidation:rule="duration(self.debounce.min) <= duration(self.debounce.max)",message="debounce.min must not be longer than debounce.max"
// +kubebuilder:validation:XValidation:rule="!has(self.delivery) || !has(self.delivery.confirm) || !self.delivery.confirm || has(self.salt.credentialsSecretRef) || (has(self.salt.endpoints) && self.salt.endpoints.all(e, has(e.credentialsSecretRef)))",message="delivery.confirm needs salt.credentialsSecretRef (or one on every salt.endpoints entry): salt-api runs the runner nodeallow.status only for a logged-in user",fieldPath=".delivery.confirm"
// +kubebuilder:validation:XValidation:rule="!has(self.staticCIDRs) || self.staticCIDRs.all(c, isIP(c) || !isCIDR(c) || cidr(c).prefixLength() >= (cidr(c).ip().family() == 4 ? self.limits.ipv4.minPrefixLength : self.limits.ipv6.minPrefixLength))",message="a static CIDR is wider than spec.limits allows (default: IPv4 /16, IPv6 /48); list narrower prefixes",reason=FieldValueForbidden,fieldPath=".staticCIDRs"
type NodeAllowlistSpec struct {
	// nodeSelector selects the nodes whose addresses are published; empty selects every node.
	// +optional
	NodeSelector metav1.LabelSelector `json:"nodeSelector,omitzero"`

	// addressTypes lists the node status address types to publish.
	// +kubebuilder:default={InternalIP}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:Enum=InternalIP;ExternalIP
	// +listType=set
	// +optional
	AddressTypes []corev1.NodeAddressType `json:"addressTypes,omitempty"`

	// families lists the IP families to publish.
	// +kubebuilder:default={IPv4,IPv6}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	Families []IPFamily `json:"families,omitempty"`

	// staticCIDRs are published with the node addresses, e.g. a NAT egress address.
	// Each is an IP address or a CIDR of a family listed in families.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:items:XValidation:rule="isIP(self) || isCIDR(self)",message="each static CIDR must be an IP address or a CIDR such as 203.0.113.0/24"
	// +listType=set
	// +optional
	StaticCIDRs []string `json:"staticCIDRs,omitempty"`

	// limits bound how much of the address space the allowlist may open: the API
	// server refuses staticCIDRs wider than the minimum prefix length, and the
	// controller holds (does not publish) a snapshot over the span limits. The
	// Salt master enforces its own limits as well (docs/security.md).
	// +kubebuilder:default={}
	// +optional
	Limits AddressLimits `json:"limits,omitzero"`

	// maxShrinkPercent holds a publish that would drop more than this share of
	// the published addresses at once (a selector edit, a label typo): the Ready
	// condition says so until the annotation nodeallow.io/allow-shrink is set to
	// the value it names (<published sequence>:<digest of the held snapshot>), or
	// a later snapshot is within the bound.
	// Unset, shrinking is never held: a removed node's address may soon belong to
	// someone else, so holding it is a trade-off (docs/security.md).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	// +optional
	MaxShrinkPercent int32 `json:"maxShrinkPercent,omitempty"`

	// salt says where and how to publish.
	// +required
	Salt SaltEndpoint `json:"salt"`

	// debounce bounds how long changes are collected before one publish.
	// +kubebuilder:default={}
	// +optional
	Debounce Debounce `json:"debounce,omitzero"`

	// resyncInterval is how often the current snapshot is re-sent unchanged, so a
	// Salt master that lost it converges; Salt treats a re-sent sequence as a no-op.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s') && duration(self) <= duration('24h')",message="resyncInterval must be between 30s and 24h"
	// +optional
	ResyncInterval metav1.Duration `json:"resyncInterval,omitzero"`

	// minAddresses is the fewest addresses ever published; a smaller snapshot is
	// held back (the last published set stays) and the Ready condition says why.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	MinAddresses int32 `json:"minAddresses,omitempty"`

	// dryRun computes and reports the snapshot but never publishes it.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// delivery says what the controller asks the Salt master after salt-api acknowledged a sequence:
	// by default (verifyStore) whether the master stored it, sending it again when not; with confirm
	// also what the minions subscribed to this allowlist applied (status.delivery, the Applied
	// condition, `kubectl get nal` shows APPLIED 3/3). Both call the runner nodeallow.status, which
	// the salt-api user must be allowed (docs/salt.md#master-configuration).
	// +kubebuilder:default={}
	// +optional
	Delivery DeliveryCheck `json:"delivery,omitzero"`

	// suspend stops publishing until cleared. Deleting a suspended (or dry-run)
	// NodeAllowlist sends no retirement: Salt keeps the last published set.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// AddressLimits bounds the published addresses per IP family.
type AddressLimits struct {
	// ipv4 bounds the IPv4 addresses.
	// +kubebuilder:default={minPrefixLength:16,maxSpanPrefixLength:14}
	// +optional
	IPv4 IPv4Limits `json:"ipv4,omitzero"`

	// ipv6 bounds the IPv6 addresses.
	// +kubebuilder:default={minPrefixLength:48,maxSpanPrefixLength:44}
	// +optional
	IPv6 IPv6Limits `json:"ipv6,omitzero"`
}

// IPv4Limits bounds the IPv4 addresses of an allowlist.
// +kubebuilder:validation:XValidation:rule="self.maxSpanPrefixLength <= self.minPrefixLength",message="ipv4.maxSpanPrefixLength must not be longer than ipv4.minPrefixLength: the span must hold at least one prefix of the minimum length"
type IPv4Limits struct {
	// minPrefixLength is the shortest prefix allowed (staticCIDRs and published entries).
	// +kubebuilder:default=16
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=32
	// +optional
	MinPrefixLength int32 `json:"minPrefixLength,omitempty"`

	// maxSpanPrefixLength bounds all entries together to as many addresses as one
	// prefix of this length holds (14: 262144 addresses), so that many narrow
	// prefixes cannot add up to a wide one.
	// +kubebuilder:default=14
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=32
	// +optional
	MaxSpanPrefixLength int32 `json:"maxSpanPrefixLength,omitempty"`
}

// IPv6Limits bounds the IPv6 addresses of an allowlist.
// +kubebuilder:validation:XValidation:rule="self.maxSpanPrefixLength <= self.minPrefixLength",message="ipv6.maxSpanPrefixLength must not be longer than ipv6.minPrefixLength: the span must hold at least one prefix of the minimum length"
type IPv6Limits struct {
	// minPrefixLength is the shortest prefix allowed (staticCIDRs and published entries).
	// +kubebuilder:default=48
	// +kubebuilder:validation:Minimum=16
	// +kubebuilder:validation:Maximum=128
	// +optional
	MinPrefixLength int32 `json:"minPrefixLength,omitempty"`

	// maxSpanPrefixLength bounds all entries together to as many addresses as one
	// prefix of this length holds (44: sixteen /48s).
	// +kubebuilder:default=44
	// +kubebuilder:validation:Minimum=16
	// +kubebuilder:validation:Maximum=128
	// +optional
	MaxSpanPrefixLength int32 `json:"maxSpanPrefixLength,omitempty"`
}

// SaltEndpoint says which salt-api (or, with endpoints, which salt-apis) an allowlist publishes to, and how.
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.endpoints)",message="set exactly one of salt.url (one Salt master) and salt.endpoints (several masters)"
// +kubebuilder:validation:XValidation:rule="!has(self.url) || url(self.url).getScheme() == 'https' || (has(self.allowInsecureHTTP) && self.allowInsecureHTTP && url(self.url).getScheme() == 'http')",message="salt.url must use https (set salt.allowInsecureHTTP to allow http)"
// +kubebuilder:validation:XValidation:rule="!has(self.endpoints) || self.endpoints.all(e, url(e.url).getScheme() == 'https' || (has(self.allowInsecureHTTP) && self.allowInsecureHTTP && url(e.url).getScheme() == 'http'))",message="every salt.endpoints url must use https (set salt.allowInsecureHTTP to allow http)",fieldPath=".endpoints"
type SaltEndpoint struct {
	// url is salt-api's base URL, e.g. https://salt.example.com:8000, when the allowlist publishes to one
	// Salt master; set endpoints instead for several.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="salt.url must be an absolute URL"
	// +optional
	URL string `json:"url,omitempty"`

	// endpoints are the salt-apis of several Salt masters (classic multi-master: each master has its own
	// cache and reactor, so each must be told). Every endpoint gets every sequence on its own: each has
	// its acknowledged sequence, retries and conditions in status.endpoints, and a master that hangs or
	// refuses never delays the others. credentialsSecretRef and caBundle below are their defaults.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=url
	// +optional
	Endpoints []SaltAPIEndpoint `json:"endpoints,omitempty"`

	// allowInsecureHTTP permits an http:// url; use only on a trusted network or in tests.
	// +optional
	AllowInsecureHTTP bool `json:"allowInsecureHTTP,omitempty"`

	// hookPath is the first part of the webhook path after /hook/; the controller
	// posts to /hook/<hookPath>/<cluster>/<allowlist>, which salt-api fires as
	// the event tag salt/netapi/hook/<hookPath>/<cluster>/<allowlist>.
	// +kubebuilder:default="nodeallow"
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	HookPath string `json:"hookPath,omitempty"`

	// signingKeySecretRef names the Secret (in the controller's namespace) and key
	// holding the HMAC-SHA256 key shared with this cluster's entry in the Salt master config.
	// +required
	SigningKeySecretRef SecretKeySelector `json:"signingKeySecretRef"`

	// credentialsSecretRef names a Secret (in the controller's namespace) with keys
	// username, password and optionally eauth (default pam) for salt-api's /login.
	// Leave unset when the master sets webhook_disable_auth.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`

	// caBundle is a PEM bundle of CAs that verify salt-api's certificate; the
	// system roots are used when empty.
	// +kubebuilder:validation:MaxLength=262144
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`

	// maxBodyBytes is the largest request body; bigger snapshots go as numbered
	// chunks of one sequence. The hook event carries the body twice and the
	// master trims events over max_event_size (default 1 MiB; salt-api itself
	// enforces no limit), so keep this below half of max_event_size.
	// +kubebuilder:default=262144
	// +kubebuilder:validation:Minimum=4096
	// +kubebuilder:validation:Maximum=480000
	// +optional
	MaxBodyBytes int32 `json:"maxBodyBytes,omitempty"`
}

// SaltAPIEndpoint is one salt-api of spec.salt.endpoints.
type SaltAPIEndpoint struct {
	// url is this salt-api's base URL, e.g. https://salt-1.example.com:8000.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="salt.endpoints url must be an absolute URL"
	// +required
	URL string `json:"url"`

	// credentialsSecretRef names the credentials Secret for this salt-api's /login (keys as in
	// spec.salt.credentialsSecretRef); unset takes spec.salt.credentialsSecretRef.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`

	// caBundle is a PEM bundle of CAs that verify this salt-api's certificate; empty takes spec.salt.caBundle.
	// +kubebuilder:validation:MaxLength=262144
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
}

// SecretReference names a Secret in the controller's own namespace.
type SecretReference struct {
	// name is the Secret's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// SecretKeySelector names one key of a Secret in the controller's own namespace.
type SecretKeySelector struct {
	// name is the Secret's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// key is the key within the Secret's data.
	// +kubebuilder:default="signing-key"
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +optional
	Key string `json:"key,omitempty"`
}

// Debounce bounds publishing like a buffer period: publish after min of quiet,
// and never later than max after the first unpublished change.
type Debounce struct {
	// min is the quiet time after the last change before publishing.
	// +kubebuilder:default="2s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('5m')",message="debounce.min must be between 0s and 5m"
	// +optional
	Min metav1.Duration `json:"min,omitzero"`

	// max is the longest a change waits, however long the churn lasts.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="debounce.max must be between 1s and 1h"
	// +optional
	Max metav1.Duration `json:"max,omitzero"`
}

// DeliveryCheck says whether and how often the controller confirms that the subscribed minions applied
// what salt-api acknowledged.
type DeliveryCheck struct {
	// confirm turns the check on: the controller calls the runner nodeallow.status through salt-api
	// (as the user of spec.salt.credentialsSecretRef, which must then be set) with this cluster and
	// allowlist, and Ready is True only once every subscriber applied the published sequence.
	// +optional
	Confirm bool `json:"confirm,omitempty"`

	// verifyStore asks the Salt master, 1 s after salt-api acknowledged a new sequence (and after each
	// resync), whether its reactor stored it, and sends it again 10 s after the acknowledgement when it
	// did not: salt-api acknowledges a hook once the event is on the bus, so a hook taken while the
	// master starts (before its reactor listens) or just before it dies would otherwise be missing until
	// the resync. On by default; it needs spec.salt.credentialsSecretRef (without credentials there is
	// nothing to ask with, and the acknowledgement is trusted) and the salt-api user's runner ACL for
	// nodeallow.status (docs/salt.md#master-configuration). The Stored condition says what the master
	// answered, and Ready is True only once it stored the published sequence. false trusts the
	// acknowledgement, as before.
	// +kubebuilder:default=true
	// +optional
	VerifyStore *bool `json:"verifyStore,omitempty"`

	// interval is how often the check repeats once every subscriber applied the published sequence;
	// while some have not, it repeats sooner (1 s after the publish, then doubling up to interval).
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('1h')",message="delivery.interval must be between 10s and 1h"
	// +optional
	Interval metav1.Duration `json:"interval,omitzero"`

	// applyTimeout is how long subscribers may take to apply a sequence the Salt master stored before
	// the allowlist reports them behind (Applied False, reason SubscribersBehind). Salt applies within
	// about a second; a minion that is down or missed the publish is retried by the master's
	// reconcile loop, and this is how long that may take before an operator is told.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="delivery.applyTimeout must be between 1s and 1h"
	// +optional
	ApplyTimeout metav1.Duration `json:"applyTimeout,omitzero"`
}

// Condition types and reasons a NodeAllowlist reports.
const (
	// ConditionReady is True when the published snapshot matches the selected nodes; Unknown while a
	// new one is being published, False with the reason why not.
	ConditionReady = "Ready"
	// ConditionPublished is True when the last publish attempt succeeded; Unknown while one is in
	// flight (reasons Publishing, PublishStalled).
	ConditionPublished = "Published"
	// ConditionStored is True when the Salt master said it stored the published sequence
	// (spec.delivery.verifyStore, with credentials); Ready takes it over when it would otherwise be True.
	ConditionStored = "Stored"
	// ConditionApplied is True when every minion subscribed to the allowlist applied the published
	// sequence, as the Salt master reports it; set only with spec.delivery.confirm.
	ConditionApplied = "Applied"
)

// DeliveryStatus is what the Salt master last reported about the subscribers of an allowlist.
type DeliveryStatus struct {
	// checkedTime is when the Salt master last answered the check.
	// +optional
	CheckedTime *metav1.Time `json:"checkedTime,omitempty"`

	// sequence is the published sequence the subscribers were checked against.
	// +optional
	Sequence int64 `json:"sequence,omitempty"`

	// storedSequence is the sequence the Salt master had stored; below sequence means its reactor
	// has not stored (or lost) what salt-api acknowledged, and the controller sends it again.
	// +optional
	StoredSequence int64 `json:"storedSequence,omitempty"`

	// subscribers is how many minions subscribe to the allowlist in pillar.
	// +optional
	Subscribers int32 `json:"subscribers,omitempty"`

	// applied counts the subscribers whose last apply of sequence (or a later one) succeeded.
	// +optional
	Applied int32 `json:"applied,omitempty"`

	// behind counts the subscribers that have not applied sequence yet (down, missed it, or busy).
	// +optional
	Behind int32 `json:"behind,omitempty"`

	// failed counts the subscribers whose last apply failed.
	// +optional
	Failed int32 `json:"failed,omitempty"`

	// summary is applied/subscribers, e.g. 3/3, for kubectl's APPLIED column.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Summary string `json:"summary,omitempty"`

	// minions are the first subscribers (by name) that failed or are behind, with what the master
	// says about them.
	// +kubebuilder:validation:MaxItems=5
	// +listType=atomic
	// +optional
	Minions []MinionDelivery `json:"minions,omitempty"`
}

// MinionDelivery is one subscriber that has not applied the published sequence.
type MinionDelivery struct {
	// name is the minion id.
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// state is Behind or Failed.
	// +kubebuilder:validation:Enum=Behind;Failed
	// +required
	State string `json:"state"`

	// appliedSequence is the sequence the minion last applied with success; 0 when never.
	// +optional
	AppliedSequence int64 `json:"appliedSequence,omitempty"`

	// message is the master's comment on the minion's last apply, or why it is behind.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// EndpointStatus is what one salt-api of spec.salt.endpoints acknowledged, and its conditions.
type EndpointStatus struct {
	// url is the endpoint's spec.salt.endpoints url.
	// +kubebuilder:validation:MaxLength=2048
	// +required
	URL string `json:"url"`

	// publishedAddresses is how many addresses and CIDRs publishedSequence holds.
	// +optional
	PublishedAddresses int32 `json:"publishedAddresses,omitempty"`

	// publishedSequence is the last sequence this salt-api acknowledged in full.
	// +optional
	PublishedSequence int64 `json:"publishedSequence,omitempty"`

	// lastPublishedTime is when a publish to this salt-api last succeeded.
	// +optional
	LastPublishedTime *metav1.Time `json:"lastPublishedTime,omitempty"`

	// delivery is what this Salt master last reported about the subscribers (spec.delivery.confirm only).
	// +optional
	Delivery *DeliveryStatus `json:"delivery,omitempty"`

	// lastError is this endpoint's last publish error, empty after a success.
	// +optional
	LastError string `json:"lastError,omitempty"`

	// conditions are Ready, Published, Stored (spec.delivery.verifyStore) and Applied (spec.delivery.confirm) for this salt-api alone.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NodeAllowlistStatus is what the controller last observed and published.
type NodeAllowlistStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// nodes is how many nodes the selector matches.
	// +optional
	Nodes int32 `json:"nodes,omitempty"`

	// addresses is how many addresses and CIDRs the current selection gives (the snapshot the
	// controller publishes next, or already published when publishedSequence equals sequence).
	// +optional
	Addresses int32 `json:"addresses,omitempty"`

	// sequence is the number of the current snapshot; it grows only when the digest changes.
	// It is recorded before the snapshot is sent, so that after a restart or a
	// leader change the controller re-sends it (or moves past it) and never
	// reuses a number for different addresses.
	// +optional
	Sequence int64 `json:"sequence,omitempty"`

	// digest identifies the addresses of the snapshot numbered sequence (sha256 of the canonical list).
	// +optional
	Digest string `json:"digest,omitempty"`

	// publishedAddresses is how many addresses and CIDRs the sequence
	// publishedSequence holds; spec.maxShrinkPercent compares against it.
	// +optional
	PublishedAddresses int32 `json:"publishedAddresses,omitempty"`

	// publishedSequence is the last sequence salt-api acknowledged in full (with spec.salt.endpoints,
	// the lowest of theirs); below sequence while a publish is in flight or failing.
	// +optional
	PublishedSequence int64 `json:"publishedSequence,omitempty"`

	// lastPublishedTime is when a publish last succeeded.
	// +optional
	LastPublishedTime *metav1.Time `json:"lastPublishedTime,omitempty"`

	// delivery is what the Salt master last reported about the subscribers (spec.delivery.confirm only).
	// +optional
	Delivery *DeliveryStatus `json:"delivery,omitempty"`

	// lastError is the last publish or configuration error, empty after a success.
	// +optional
	LastError string `json:"lastError,omitempty"`

	// masters is how many of the allowlist's salt-api endpoints acknowledged the current sequence, of
	// how many there are, e.g. 2/2, for kubectl's MASTERS column.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	Masters string `json:"masters,omitempty"`

	// endpoints is each salt-api's own state, in the order of spec.salt.endpoints (spec.salt.endpoints only;
	// with spec.salt.url the fields above are that one salt-api's).
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=url
	// +optional
	Endpoints []EndpointStatus `json:"endpoints,omitempty"`

	// conditions are Ready, Published, Stored (spec.delivery.verifyStore) and Applied (spec.delivery.confirm), with reasons a user can
	// act on; with spec.salt.endpoints each is the worst endpoint's, naming it.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=nal
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes`
// +kubebuilder:printcolumn:name="Addresses",type=integer,JSONPath=`.status.addresses`
// +kubebuilder:printcolumn:name="Sequence",type=integer,JSONPath=`.status.sequence`
// +kubebuilder:printcolumn:name="Published",type=date,JSONPath=`.status.lastPublishedTime`
// +kubebuilder:printcolumn:name="Masters",type=string,JSONPath=`.status.masters`
// +kubebuilder:printcolumn:name="Applied",type=string,JSONPath=`.status.delivery.summary`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Published Seq",type=integer,priority=1,JSONPath=`.status.publishedSequence`
// +kubebuilder:printcolumn:name="URL",type=string,priority=1,JSONPath=`.spec.salt.url`
// +kubebuilder:printcolumn:name="Last Error",type=string,priority=1,JSONPath=`.status.lastError`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="a NodeAllowlist's name must be a DNS label (at most 63 of a-z, 0-9 and '-'): it becomes part of Salt event tags and firewall set names"

// NodeAllowlist keeps the addresses of selected nodes allowed on servers that Salt manages.
type NodeAllowlist struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec defines the desired state of NodeAllowlist
	// +required
	Spec NodeAllowlistSpec `json:"spec"`

	// status defines the observed state of NodeAllowlist
	// +optional
	Status NodeAllowlistStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// NodeAllowlistList contains a list of NodeAllowlist.
type NodeAllowlistList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []NodeAllowlist `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &NodeAllowlist{}, &NodeAllowlistList{})
		return nil
	})
}
