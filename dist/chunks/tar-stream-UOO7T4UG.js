import { createRequire as __relayCreateRequire } from 'node:module'; const require = __relayCreateRequire(import.meta.url);
import{require_tar_stream}from"./chunk-ONBSEATW.js";import"./chunk-NSW2QTZB.js";export default require_tar_stream();
