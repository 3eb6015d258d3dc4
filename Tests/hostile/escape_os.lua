-- expect: 1 attempt to call a nil value (field 'execute')
os.execute("touch /tmp/gpuflow-sandbox-escaped")
