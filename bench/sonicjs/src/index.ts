/**
 * SonicJS's starter entry point with one collection shaped like the benchmark's sonicpy
 * collection ("posts", a single string field "body"). The rows themselves are seeded by
 * bench/sonicjs.py in one SQL file; registering the collection keeps SonicJS's start-up
 * sync from treating it as unmanaged.
 */

import { createSonicJSApp, registerCollections } from '@sonicjs-cms/core'
import type { CollectionConfig, SonicJSConfig } from '@sonicjs-cms/core'

const posts = {
  name: 'posts',
  displayName: 'Posts',
  description: 'Benchmark posts',
  schema: {
    type: 'object',
    properties: {
      title: { type: 'string', title: 'Title', required: true },
      body: { type: 'string', title: 'Body' }
    },
    required: ['title']
  }
} satisfies CollectionConfig

registerCollections([posts])

const config: SonicJSConfig = {
  collections: { autoSync: true },
  plugins: { autoLoad: false }
}

export default createSonicJSApp(config)
