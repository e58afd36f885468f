{{/* The chart name, or nameOverride. */}}
{{- define "vesmon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<chart>" (or fullnameOverride), without repeating the chart name. Max 50 characters so
     that suffixes such as "-operator" keep names within 63. */}}
{{- define "vesmon.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vesmon.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every resource. */}}
{{- define "vesmon.labels" -}}
helm.sh/chart: {{ include "vesmon.chart" . }}
app.kubernetes.io/name: {{ include "vesmon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vesmon
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component ("operator" or "agent"): pass (list $ "operator"). */}}
{{- define "vesmon.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "vesmon.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* All labels of one component: pass (list $ "operator"). */}}
{{- define "vesmon.componentLabels" -}}
{{ include "vesmon.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "vesmon.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{- define "vesmon.operator.fullname" -}}
{{- printf "%s-operator" (include "vesmon.fullname" .) -}}
{{- end -}}

{{- define "vesmon.agent.fullname" -}}
{{- printf "%s-agent" (include "vesmon.fullname" .) -}}
{{- end -}}

{{- define "vesmon.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "vesmon.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vesmon.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create -}}
{{- default (include "vesmon.agent.fullname" .) .Values.agent.serviceAccount.name -}}
{{- else -}}
{{- required "agent.serviceAccount.name is required when agent.serviceAccount.create is false" .Values.agent.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Fixed names the programs use: the operator writes and the agents mount this Secret, and the
     operator's replicas elect a leader on this Lease. */}}
{{- define "vesmon.credentialsSecretName" -}}vesmon-agent-credentials{{- end -}}
{{- define "vesmon.leaseName" -}}vesmon-operator{{- end -}}

{{/* Whether the agent runs as root (then the state-directory init container is not needed). */}}
{{- define "vesmon.agent.runsAsRoot" -}}
{{- $psc := .Values.agent.podSecurityContext | default dict -}}
{{- if and (hasKey $psc "runAsUser") (eq (int $psc.runAsUser) 0) -}}true{{- end -}}
{{- end -}}

{{/* The agent pods' priority class: the one given, else the chart's own (when created), else none. */}}
{{- define "vesmon.agent.priorityClassName" -}}
{{- if .Values.agent.priorityClassName -}}
{{ .Values.agent.priorityClassName }}
{{- else if .Values.agent.priorityClass.create -}}
{{ include "vesmon.agent.fullname" . }}
{{- end -}}
{{- end -}}
