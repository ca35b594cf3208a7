{{- define "qserv.labels" -}}
app.kubernetes.io/name: qserv
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "qserv.componentLabels" -}}
{{ include "qserv.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The pod template of the czar or the workers (objects.py's _pod). */}}
{{- define "qserv.pod" -}}
{{- $v := .root.Values -}}
{{- $name := .root.Release.Name -}}
{{- $role := .role -}}
{{- $portName := ternary "mysql" "grpc" (eq $role "czar") -}}
metadata:
  labels:
    {{- include "qserv.componentLabels" (dict "root" .root "component" $role) | nindent 4 }}
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
  terminationGracePeriodSeconds: 60
  containers:
  - name: {{ $role }}
    image: {{ $v.image | quote }}
    imagePullPolicy: {{ $v.imagePullPolicy }}
    args:
    - {{ $role }}
    ports:
    {{- if eq $role "czar" }}
    - name: mysql
      containerPort: 4040
    - name: http
      containerPort: 4048
    {{- else }}
    - name: grpc
      containerPort: 26000
    {{- end }}
    startupProbe:
      tcpSocket:
        port: {{ $portName }}
      periodSeconds: 5
      failureThreshold: 60
    readinessProbe:
      exec:
        command: [qserv-entrypoint, probe, {{ $role }}]
      periodSeconds: 10
      timeoutSeconds: 8
      failureThreshold: 3
    livenessProbe:
      tcpSocket:
        port: {{ $portName }}
      periodSeconds: 20
      timeoutSeconds: 5
      failureThreshold: 6
    resources:
      {{- if and (eq $role "worker") $v.worker.mariadbContainer }}
      requests:
        cpu: 250m
        memory: 256Mi
      {{- else }}
      {{- toYaml (index $v $role).resources | nindent 6 }}
      {{- end }}
    volumeMounts:
    - name: config
      mountPath: /etc/qserv
      readOnly: true
    - name: data
      mountPath: /var/lib/qserv
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: false
      capabilities:
        drop: [ALL]
    {{- if eq $role "worker" }}
    env:
    - name: QSERV_WORKER_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    {{- end }}
  {{- if and (eq $role "worker") $v.worker.mariadbContainer }}
  - name: mariadb
    image: {{ $v.image | quote }}
    imagePullPolicy: {{ $v.imagePullPolicy }}
    args: [mariadb, "$(QSERV_WORKER_NAME)"]
    env:
    - name: QSERV_WORKER_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    ports:
    - name: mariadb
      containerPort: 3306
    startupProbe:
      tcpSocket:
        port: mariadb
      periodSeconds: 5
      failureThreshold: 60
    livenessProbe:
      tcpSocket:
        port: mariadb
      periodSeconds: 20
      timeoutSeconds: 5
      failureThreshold: 6
    resources:
      {{- toYaml $v.worker.resources | nindent 6 }}
    volumeMounts:
    - name: config
      mountPath: /etc/qserv
      readOnly: true
    - name: data
      mountPath: /var/lib/qserv
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: false
      capabilities:
        drop: [ALL]
  {{- end }}
  volumes:
  - name: config
    projected:
      defaultMode: 288
      sources:
      - configMap:
          name: {{ $name }}-config
      - secret:
          name: {{ $name }}-secrets
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{- define "qserv.pvc" -}}
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: {{ .storage }}
  {{- with .storageClassName }}
  storageClassName: {{ . }}
  {{- end }}
{{- end -}}
