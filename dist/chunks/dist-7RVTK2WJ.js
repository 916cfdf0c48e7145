import { createRequire as __relayCreateRequire } from 'node:module'; const require = __relayCreateRequire(import.meta.url);
import{require_dist}from"./chunk-UVG2HCQA.js";import"./chunk-NSW2QTZB.js";export default require_dist();
