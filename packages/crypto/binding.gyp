{
  "targets": [
    {
      "target_name": "trellis_crypto",
      "sources": ["native/sha256.c"],
      "cflags": ["-O2"],
      "conditions": [
        [
          "OS=='linux'",
          {
            "ldflags": ["-Wl,-z,now"]
          }
        ]
      ]
    },
    {
      "target_name": "trellis_p256",
      "sources": ["native/p256.c"],
      "cflags": ["-O2"],
      "conditions": [
        [
          "OS=='linux'",
          {
            "ldflags": ["-Wl,-z,now"]
          }
        ]
      ]
    }
  ]
}
