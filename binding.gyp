{
  "targets": [
    {
      "target_name": "blindsync_native",
      "sources": ["native/utimens.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
