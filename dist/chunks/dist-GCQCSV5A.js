import { createRequire as __relayCreateRequire } from 'node:module'; const require = __relayCreateRequire(import.meta.url);
import{require_dist}from"./chunk-QI5AL355.js";import"./chunk-NSW2QTZB.js";export default require_dist();
