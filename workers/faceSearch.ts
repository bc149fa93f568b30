import type { Rect } from './imageRegion.ts';
import type { SsdInputSize } from './ssdMobilenetV1.ts';

/** A face box in the decoded image's pixels (may overflow the frame) with its detection score. */
export interface FoundFace {
  readonly score: number;
  readonly box: Rect;
}

/** One detector pass: the image fitted into a `size` square, with `border` (share of the side) around it. */
export type DetectPass = (size: SsdInputSize, border: number) => Promise<FoundFace[]>;

/** Faces at least this wide (share of the image's longer side) are found reliably by the coarse pass. */
export const coarseFaceShare = 0.15;
/** Border of the retry pass: the image fills the middle half of the input. */
export const retryBorder = 0.25;

export interface SearchResult {
  readonly faces: FoundFace[];
  /** The passes run, in order, e.g. ['256', '256+border', '512']: for logs and benches. */
  readonly passes: string[];
}

/**
 * Looks for faces with as little work as the image needs:
 * 1. the whole image at 256 px: finds faces from about an eighth of the frame up to faces larger
 *    than it (tight crops, ID photos) at a quarter of the full pass's cost;
 * 2. nothing found: once more at 256 px with the image on a larger canvas (a face cut by every edge
 *    becomes a face with surroundings);
 * 3. nothing found, or a face narrower than `coarseFaceShare` of the frame (a group, a distant face): the
 *    full 512 px pass, face-api's own input size, whose answer replaces the coarse one.
 * A face much smaller than another one that the coarse pass found may therefore go unreported.
 */
export async function searchFaces(pass: DetectPass, longerSide: number): Promise<SearchResult> {
  const coarse = await pass(256, 0);
  const passes = ['256'];
  if (coarse.length === 0) {
    const bordered = await pass(256, retryBorder);
    passes.push('256+border');
    if (bordered.length > 0) return { faces: bordered, passes };
  } else if (coarse.every((face) => face.box.width >= coarseFaceShare * longerSide)) {
    return { faces: coarse, passes };
  }
  const fine = await pass(512, 0);
  passes.push('512');
  return { faces: fine.length > 0 ? fine : coarse, passes };
}
