/**
 * `@koa/pack-format`: the koa-pack/2 Runtime Pack archive (docs/pack-format.md). Pure: no I/O.
 */
export {
  PACK_MEDIA_TYPE,
  PACK_FORMAT,
  PACK_PARTS,
  MANIFEST_PATH,
  ATTRIBUTE_KEY_PATTERN,
  PackEntitySchema,
  PackManifestSchema,
  PackInputSchema,
  PackPartSchema,
  PackAttributeValue,
  type PackEntity,
  type PackEntityInput,
  type PackManifest,
  type PackManifestInput,
  type PackInput,
  type PackPart,
} from './schema';
export {
  encodePack,
  decodePack,
  PACK_MAX_BYTES_DEFAULT,
  SEARCH_LIMIT_DEFAULT,
  SEARCH_LIMIT_MAX,
  type EncodePackInput,
  type EncodedPack,
  type DecodedPack,
  type DecodePackOptions,
} from './pack';
export { tokenize, scanTerms, buildTermIndex, indexedTexts, score, codeUnitCompare, MIN_TERM_LENGTH, MAX_TERM_LENGTH } from './terms';
export { writeUstar, readUstar, ustarHeader, TAR_PATH_PATTERN, BLOCK, type TarEntry } from './ustar';
