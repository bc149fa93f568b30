/** Number of values in a face descriptor (face-api.js faceRecognitionNet). */
export const descriptorLength = 128;

/** Whether this host's float32 arrays are little-endian, as stored descriptors are: then their bytes are copied as they are. */
export const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The bytes of a descriptor as stored (sealed): 128 little-endian float32. */
export function descriptorToBytes(descriptor: Float32Array): Uint8Array {
  const bytes = new Uint8Array(descriptorLength * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < descriptorLength; i++) view.setFloat32(i * 4, descriptor[i]!, true);
  return bytes;
}

export function descriptorFromBytes(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength !== descriptorLength * 4) throw new Error(`a stored descriptor has ${bytes.byteLength} bytes, expected ${descriptorLength * 4}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const descriptor = new Float32Array(descriptorLength);
  for (let i = 0; i < descriptorLength; i++) descriptor[i] = view.getFloat32(i * 4, true);
  return descriptor;
}
