{{/* The release of the images and of the pods' app.kubernetes.io/version label (no digest). */}}
{{- define "toolplane.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}
{{- define "toolplane.version" -}}
{{- include "toolplane.tag" . | splitList "@" | first -}}
{{- end -}}

{{- define "toolplane.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .service (include "toolplane.tag" .root) -}}
{{- end -}}

{{/* Labels of every object (the kustomize base's `part-of` and `version`) plus Helm's own. */}}
{{- define "toolplane.labels" -}}
app.kubernetes.io/name: {{ .name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: toolplane
app.kubernetes.io/version: {{ include "toolplane.version" .root | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* Pod template labels: what the kustomize base puts on pods (selectors and NetworkPolicies read `name`). */}}
{{- define "toolplane.podLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ include "toolplane.version" .root | quote }}
{{- end -}}

{{/* The base's pod hardening: non-root, seccomp RuntimeDefault. */}}
{{- define "toolplane.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 1000
  runAsGroup: 1000
  fsGroup: 1000
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The base's container hardening: read-only root, no privilege escalation, no capabilities. */}}
{{- define "toolplane.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end -}}

{{- define "toolplane.topologySpread" -}}
topologySpreadConstraints:
  {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        app.kubernetes.io/name: {{ $.name }}
    matchLabelKeys: [pod-template-hash]
  {{- end }}
{{- end -}}

{{/* Redis connection from its Secret, in the form of redis.mode (ADR 0043). */}}
{{- define "toolplane.redisEnv" -}}
{{- $secret := .Values.secrets.redis -}}
{{- if eq .Values.redis.mode "cluster" }}
- name: REDIS_CLUSTER_NODES
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: REDIS_CLUSTER_NODES
{{- else if eq .Values.redis.mode "sentinel" }}
- name: REDIS_SENTINELS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: REDIS_SENTINELS
- name: REDIS_SENTINEL_MASTER
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: REDIS_SENTINEL_MASTER
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: REDIS_PASSWORD
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: REDIS_SENTINEL_PASSWORD
      optional: true
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: REDIS_URL
{{- end }}
{{- end -}}

{{/* Span and metric resources: which pod, namespace, node and version (downward API). */}}
{{- define "toolplane.resourceEnv" -}}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: SERVICE_VERSION
  valueFrom:
    fieldRef:
      fieldPath: metadata.labels['app.kubernetes.io/version']
- name: OTEL_RESOURCE_ATTRIBUTES
  value: k8s.pod.name=$(K8S_POD_NAME),k8s.namespace.name=$(K8S_NAMESPACE_NAME),k8s.node.name=$(K8S_NODE_NAME),service.version=$(SERVICE_VERSION)
{{- end -}}

{{- define "toolplane.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 2
  failureThreshold: {{ .startupFailures }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 10
  failureThreshold: 3
{{- end -}}

{{- define "toolplane.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{/* A checksum of the services' ConfigMaps on pod templates: a changed value rolls the pods. */}}
{{- define "toolplane.configChecksum" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmaps.yaml") . | sha256sum }}
{{- end -}}
