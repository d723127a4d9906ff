{{/*
The chart name, or nameOverride.
*/}}
{{- define "nodeallow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: fullnameOverride, else the release name, with
the chart name appended unless the release name already contains it. Kept to 52
characters so that the metrics Service, <fullname>-metrics, stays a DNS label.
*/}}
{{- define "nodeallow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "nodeallow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "nodeallow.labels" -}}
helm.sh/chart: {{ include "nodeallow.chart" . }}
{{ include "nodeallow.selectorLabels" . }}
app.kubernetes.io/version: {{ include "nodeallow.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nodeallow
{{- end }}

{{/*
Labels that select the controller Pods; they must never change between upgrades.
*/}}
{{- define "nodeallow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nodeallow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/*
The controller's ServiceAccount name.
*/}}
{{- define "nodeallow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nodeallow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image tag: image.tag, else the chart's appVersion.
*/}}
{{- define "nodeallow.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
The image reference: repository:tag, or repository@digest when a digest is set.
*/}}
{{- define "nodeallow.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "nodeallow.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
The cluster name, checked again here so that a schema-less render (helm template
--skip-schema-validation) still fails with a message that says what to do.
*/}}
{{- define "nodeallow.clusterName" -}}
{{- $name := required "clusterName is required: set it to this cluster's name, a DNS label such as prod-eu1 (--set clusterName=...)" .Values.clusterName }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" $name) }}
{{- fail (printf "clusterName %q is not a DNS label: use 1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit" $name) }}
{{- end }}
{{- $name }}
{{- end }}

{{/*
The namespace the controller's Events about cluster-scoped NodeAllowlists go to.
client-go's events.k8s.io recorder puts Events about cluster-scoped objects into
"default", so that is where the controller needs to create them.
*/}}
{{- define "nodeallow.eventsNamespace" -}}
default
{{- end }}

{{/*
A duration of hours, minutes and seconds ("15m", "1h30m", "90s") in whole seconds,
for PromQL comparisons (PromQL compares numbers, not durations). The schema allows
only this form; the check here keeps a schema-less render from comparing with 0.
*/}}
{{- define "nodeallow.durationSeconds" -}}
{{- if or (eq . "") (not (regexMatch "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$" .)) }}
{{- fail (printf "%q is not a duration of hours, minutes and seconds such as 15m or 1h30m" .) }}
{{- end }}
{{- $seconds := 0 }}
{{- range $unit, $factor := dict "h" 3600 "m" 60 "s" 1 }}
{{- with regexFind (printf "[0-9]+%s" $unit) $ }}
{{- $seconds = add $seconds (mul (trimSuffix $unit . | atoi) $factor) }}
{{- end }}
{{- end }}
{{- $seconds }}
{{- end }}
