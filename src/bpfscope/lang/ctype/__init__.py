"""The C type system both front ends share: Type, preamble C definitions, BTF types, one
namespace over both, and well-known header constants."""
