{
  "targets": [
    {
      "target_name": "page_cache",
      "sources": ["page-cache.c"]
    }
  ]
}
