# Schema used only by the tests of layers/wire/decode.hpp.
@0x9e6a1e5c58099c6a;

struct WireTestItem {
  id @0 :UInt64;
  name @1 :Text;
  data @2 :Data;
  child @3 :WireTestItem;
  items @4 :List(WireTestItem);
  flag @5 :Bool;
}
