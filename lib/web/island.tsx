/**
 * Islands, Fresh-style, in a few lines: on the server an island renders its
 * component inside a marker element that carries the props as JSON; in the
 * browser `islands/_client.ts` finds the markers and hydrates each one.
 *
 * The props travel in an attribute, not in a `<script>` element: the
 * renderer escapes attribute values, so payload bytes that look like markup
 * (`</script>`, `<img onerror>`) stay data without any raw-HTML escape hatch.
 */
import type { ComponentType, JSX } from "preact";

/** Attribute naming the island on its marker element. */
export const ISLAND_ATTR = "data-island";
/** Attribute carrying the island's props as JSON. */
export const PROPS_ATTR = "data-island-props";
/** Attribute the browser sets once the island is hydrated (tests wait for it). */
export const HYDRATED_ATTR = "data-hydrated";

/** An island: the component the browser hydrates, and the name that finds it there. */
export interface Island<P> {
  (props: P): JSX.Element;
  /** The name in the marker; unique among islands. */
  readonly islandName: string;
  /** The component itself, rendered inside the marker. */
  readonly component: ComponentType<P>;
}

/**
 * Declares an island. Pages render the result like any component; the
 * props must be plain, serialisable data (no functions, no class instances).
 */
// deno-lint-ignore no-explicit-any
export function island<P extends Record<string, any>>(
  name: string,
  component: ComponentType<P>,
): Island<P> {
  const Component = component;
  function IslandMarker(props: P): JSX.Element {
    return (
      <div class="island" {...{ [ISLAND_ATTR]: name, [PROPS_ATTR]: JSON.stringify(props) }}>
        <Component {...props} />
      </div>
    );
  }
  return Object.assign(IslandMarker, { islandName: name, component });
}
