// The buildings list: a Relay connection paged both ways (loadNext with
// first/after, loadPrevious with last/before) through
// BuildingListPaginationQuery, each building a BuildingCard.
export const BuildingListQuery = graphql`
  query BuildingListQuery($first: Int, $after: String, $last: Int, $before: String) {
    ...BuildingList_query @arguments(first: $first, after: $after, last: $last, before: $before)
  }
`;

export const BuildingList = graphql`
  fragment BuildingList_query on Query
  @refetchable(queryName: "BuildingListPaginationQuery")
  @argumentDefinitions(
    first: { type: "Int" }
    after: { type: "String" }
    last: { type: "Int" }
    before: { type: "String" }
  ) {
    buildings(first: $first, after: $after, last: $last, before: $before)
    @connection(key: "BuildingList_buildings") {
      totalCount
      edges {
        node {
          id
          ...BuildingCard_building
        }
      }
    }
  }
`;

declare function graphql(strings: TemplateStringsArray): unknown;
