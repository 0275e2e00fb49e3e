{
  "targets": [
    {
      "target_name": "blindsync_native",
      "sources": ["native/addon.c", "native/utimens.c", "native/allocator.c", "native/listdir.c", "native/scrypt.c", "native/mkfifo.c", "native/writefiles.c", "native/readfiles.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
